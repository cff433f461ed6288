-- Audit entries staged by the hot paths (the dispatcher's claim and send, status callbacks) in
-- the same transaction as their state change, without taking the org's chain lock. AuditLog.link
-- moves them into audit_entries — seq, prev_hash and hash assigned in staging order, under the
-- chain lock, many per transaction — right after the staging transaction commits; the reconciler
-- links whatever a crash left behind. `data` is the JSON text exactly as it is hashed.

-- CreateTable
CREATE TABLE "audit_pending" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "timer_id" UUID,
    "contact_id" UUID,
    "journey_id" UUID,
    "campaign_id" UUID,
    "action" TEXT NOT NULL,
    "decision" TEXT,
    "reason_codes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "data" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "audit_pending_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "audit_pending_org_id_id_idx" ON "audit_pending"("org_id", "id");
