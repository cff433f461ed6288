-- The SMS segments of each text (GSM-7 against UCS-2, src/domain/sms-segments.ts), recorded at
-- creation: carriers count 10DLC and toll-free throughput in segments, and the send rate does
-- where the org's limit says so. Null for calls (and for texts created before this column).

-- AlterTable
ALTER TABLE "timers" ADD COLUMN "segments" SMALLINT;
