-- The National Do-Not-Call Registry, deployment-wide (the registry is the same for every org):
-- each import (a full list or a change list for some area codes), the copy in force per area
-- code, and the listed numbers as 10-digit bigints (8 bytes a number: the whole registry is
-- ~250 million). Imports are streamed through COPY into a staging table and merged set-based
-- (src/adapters/db/dnc-queries.ts).

-- CreateTable
CREATE TABLE "federal_dnc_copies" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "as_of" TIMESTAMPTZ(3) NOT NULL,
    "area_codes" INTEGER[],
    "added" INTEGER NOT NULL,
    "deleted" INTEGER NOT NULL,
    "file_sha256" TEXT NOT NULL,
    "imported_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "federal_dnc_copies_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "federal_dnc_copies_kind_check" CHECK ("kind" IN ('full', 'changes'))
);

-- CreateTable
CREATE TABLE "federal_dnc_area_codes" (
    "area_code" SMALLINT NOT NULL,
    "copy_id" UUID NOT NULL,
    "as_of" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "federal_dnc_area_codes_pkey" PRIMARY KEY ("area_code")
);

-- CreateTable
CREATE TABLE "federal_dnc_numbers" (
    "number" BIGINT NOT NULL,
    "listed_since" DATE NOT NULL,

    CONSTRAINT "federal_dnc_numbers_pkey" PRIMARY KEY ("number"),
    CONSTRAINT "federal_dnc_numbers_nanp_check" CHECK ("number" BETWEEN 2002000000 AND 9999999999)
);

-- CreateIndex
CREATE INDEX "federal_dnc_area_codes_copy_id_idx" ON "federal_dnc_area_codes"("copy_id");

-- AddForeignKey
ALTER TABLE "federal_dnc_area_codes" ADD CONSTRAINT "federal_dnc_area_codes_copy_id_fkey" FOREIGN KEY ("copy_id") REFERENCES "federal_dnc_copies"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
