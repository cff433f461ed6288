-- Answers of the FCC Reassigned Numbers Database (yes / no / no_data for a number and a date),
-- cached deployment-wide: the dispatcher asks for a send relying on a consent, and reuses an
-- answer younger than RND_CACHE_TTL (src/adapters/db/rnd-queries.ts).

-- CreateTable
CREATE TABLE "rnd_checks" (
    "number" BIGINT NOT NULL,
    "since" DATE NOT NULL,
    "answer" TEXT NOT NULL,
    "checked_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "rnd_checks_pkey" PRIMARY KEY ("number","since"),
    CONSTRAINT "rnd_checks_answer_check" CHECK ("answer" IN ('yes', 'no', 'no_data'))
);
