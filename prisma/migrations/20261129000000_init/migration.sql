-- CreateEnum
CREATE TYPE "api_role" AS ENUM ('admin', 'ops', 'journey', 'auditor');

-- CreateEnum
CREATE TYPE "journey_status" AS ENUM ('active', 'ended', 'expired');

-- CreateEnum
CREATE TYPE "channel" AS ENUM ('sms', 'voice');

-- CreateEnum
CREATE TYPE "purpose" AS ENUM ('marketing', 'informational');

-- CreateEnum
CREATE TYPE "policy" AS ENUM ('cancel', 'next_slot', 'previous_slot');

-- CreateEnum
CREATE TYPE "timer_status" AS ENUM ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled', 'suppressed', 'unknown');

-- CreateTable
CREATE TABLE "orgs" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "settings" JSONB NOT NULL DEFAULT '{}',
    "twilio_credentials" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "orgs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "key_prefix" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "role" "api_role" NOT NULL,
    "name" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "contacts" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "external_id" TEXT,
    "phone_e164" TEXT NOT NULL,
    "phone_hash" TEXT NOT NULL,
    "zip" TEXT,
    "state" TEXT,
    "candidates" JSONB NOT NULL,
    "location_issues" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "contacts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "journeys" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "status" "journey_status" NOT NULL DEFAULT 'active',
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "ended_at" TIMESTAMPTZ(3),
    "end_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "journeys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "timers" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "journey_id" UUID,
    "campaign_id" UUID,
    "channel" "channel" NOT NULL,
    "purpose" "purpose" NOT NULL,
    "policy" "policy" NOT NULL,
    "subject" TEXT,
    "requested_at" TIMESTAMPTZ(3) NOT NULL,
    "send_at" TIMESTAMPTZ(3),
    "not_after" TIMESTAMPTZ(3),
    "status" "timer_status" NOT NULL DEFAULT 'scheduled',
    "payload" JSONB NOT NULL,
    "idempotency_key" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lease_owner" TEXT,
    "lease_until" TIMESTAMPTZ(3),
    "provider_id" TEXT,
    "sent_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "calendar_version" TEXT NOT NULL,
    "decision" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "timers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "suppressions" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "phone_e164" TEXT NOT NULL,
    "phone_hash" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "channel" "channel",
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lifted_at" TIMESTAMPTZ(3),

    CONSTRAINT "suppressions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_entries" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "timer_id" UUID,
    "contact_id" UUID,
    "journey_id" UUID,
    "campaign_id" UUID,
    "action" TEXT NOT NULL,
    "decision" TEXT,
    "reason_codes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "data" JSONB NOT NULL,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_records" (
    "org_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "status_code" INTEGER NOT NULL,
    "response" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_records_pkey" PRIMARY KEY ("org_id","key")
);

-- CreateIndex
CREATE UNIQUE INDEX "orgs_name_key" ON "orgs"("name");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_prefix_key" ON "api_keys"("key_prefix");

-- CreateIndex
CREATE INDEX "api_keys_org_id_idx" ON "api_keys"("org_id");

-- CreateIndex
CREATE INDEX "contacts_org_id_phone_hash_idx" ON "contacts"("org_id", "phone_hash");

-- CreateIndex
CREATE UNIQUE INDEX "contacts_org_id_phone_e164_key" ON "contacts"("org_id", "phone_e164");

-- CreateIndex
CREATE UNIQUE INDEX "contacts_org_id_external_id_key" ON "contacts"("org_id", "external_id");

-- CreateIndex
CREATE INDEX "journeys_status_expires_at_idx" ON "journeys"("status", "expires_at");

-- CreateIndex
CREATE INDEX "journeys_contact_id_idx" ON "journeys"("contact_id");

-- CreateIndex
CREATE INDEX "timers_status_send_at_idx" ON "timers"("status", "send_at");

-- CreateIndex
CREATE INDEX "timers_org_id_contact_id_sent_at_idx" ON "timers"("org_id", "contact_id", "sent_at");

-- CreateIndex
CREATE INDEX "timers_contact_id_idx" ON "timers"("contact_id");

-- CreateIndex
CREATE INDEX "timers_provider_id_idx" ON "timers"("provider_id");

-- CreateIndex
CREATE INDEX "timers_journey_id_idx" ON "timers"("journey_id");

-- CreateIndex
CREATE INDEX "timers_campaign_id_idx" ON "timers"("campaign_id");

-- CreateIndex
CREATE UNIQUE INDEX "timers_org_id_idempotency_key_key" ON "timers"("org_id", "idempotency_key");

-- CreateIndex
CREATE INDEX "suppressions_org_id_phone_e164_idx" ON "suppressions"("org_id", "phone_e164");

-- CreateIndex
CREATE INDEX "suppressions_org_id_phone_hash_idx" ON "suppressions"("org_id", "phone_hash");

-- CreateIndex
CREATE INDEX "audit_entries_org_id_timer_id_idx" ON "audit_entries"("org_id", "timer_id");

-- CreateIndex
CREATE INDEX "audit_entries_org_id_contact_id_idx" ON "audit_entries"("org_id", "contact_id");

-- CreateIndex
CREATE INDEX "audit_entries_org_id_created_at_idx" ON "audit_entries"("org_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_entries_org_id_seq_key" ON "audit_entries"("org_id", "seq");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "journeys" ADD CONSTRAINT "journeys_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "journeys" ADD CONSTRAINT "journeys_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "timers" ADD CONSTRAINT "timers_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "timers" ADD CONSTRAINT "timers_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "timers" ADD CONSTRAINT "timers_journey_id_fkey" FOREIGN KEY ("journey_id") REFERENCES "journeys"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "suppressions" ADD CONSTRAINT "suppressions_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audit_entries" ADD CONSTRAINT "audit_entries_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "idempotency_records" ADD CONSTRAINT "idempotency_records_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Append-only audit log (hand-written; Prisma's schema language cannot express triggers).
-- UPDATE, DELETE and TRUNCATE of audit_entries raise. This guards against application bugs
-- and casual edits only: a superuser or the table owner can still run
-- `ALTER TABLE audit_entries DISABLE TRIGGER ...` or drop the function. Tamper-evidence comes
-- from the per-org hash chain (prev_hash -> hash, seq without gaps), which any verifier can
-- recompute. Because of these triggers nothing may reference audit_entries with a cascading
-- or SET NULL foreign key, and audit_entries itself has no foreign key other than org_id
-- (ON DELETE RESTRICT).
CREATE FUNCTION "audit_entries_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'P0001', HINT = 'Audit entries are never changed or removed.';
END;
$$;

CREATE TRIGGER "audit_entries_no_update_delete"
    BEFORE UPDATE OR DELETE ON "audit_entries"
    FOR EACH ROW EXECUTE FUNCTION "audit_entries_append_only"();

CREATE TRIGGER "audit_entries_no_truncate"
    BEFORE TRUNCATE ON "audit_entries"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_entries_append_only"();
