-- CreateEnum
CREATE TYPE "consent_type" AS ENUM ('express_written', 'express', 'none');

-- CreateTable
CREATE TABLE "consents" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "type" "consent_type" NOT NULL,
    "channel" "channel" NOT NULL,
    "purpose" "purpose" NOT NULL,
    "source" TEXT NOT NULL,
    "captured_at" TIMESTAMPTZ(3) NOT NULL,
    "evidence" JSONB,
    "revoked_at" TIMESTAMPTZ(3),
    "revoke_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "consents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "kill_switches" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "jurisdictions" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "zips" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "starts_at" TIMESTAMPTZ(3) NOT NULL,
    "ends_at" TIMESTAMPTZ(3) NOT NULL,
    "reason" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lifted_at" TIMESTAMPTZ(3),

    CONSTRAINT "kill_switches_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "consents_contact_id_idx" ON "consents"("contact_id");

-- CreateIndex
CREATE INDEX "consents_org_id_contact_id_idx" ON "consents"("org_id", "contact_id");

-- CreateIndex
CREATE INDEX "kill_switches_org_id_ends_at_idx" ON "kill_switches"("org_id", "ends_at");

-- AddForeignKey
ALTER TABLE "consents" ADD CONSTRAINT "consents_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "consents" ADD CONSTRAINT "consents_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "kill_switches" ADD CONSTRAINT "kill_switches_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
