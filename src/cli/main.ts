#!/usr/bin/env node
/**
 * The `tcpa` command line. Output is JSON; bad input exits 2 with
 * `{ "error": { "code", "message" } }` on stdout, never a stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadCalendarSet } from '../adapters/calendars/fs-loader.ts';
import { CalendarFileError, type CalendarSet } from '../domain/calendar/compile.ts';
import { AppError } from '../domain/errors.ts';
import { INPUT_ERROR_CODES, resolveLocation, UNRESOLVABLE_CODES } from '../domain/location/resolve.ts';
import { evaluate, parseCheckRequest } from '../app/evaluate.ts';
import { formatSummary, runPlan } from './plan.ts';
import { describeCalendars } from './calendars.ts';

process.env.TZ = 'UTC';

function out(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function fail(code: string, message: string): never {
  out({ error: { code, message } });
  process.exit(2);
}

let calendars: CalendarSet | undefined;
function cal(): CalendarSet {
  const dir = program.opts<{ calendars?: string }>().calendars;
  calendars ??= dir ? loadCalendarSet(dir) : loadCalendarSet();
  return calendars;
}

const program = new Command('tcpa')
  .description('TCPA-compliant outbound scheduling: calendars, contact location and send decisions')
  .option('--calendars <dir>', 'calendar directory (default: the bundled calendars/)')
  .exitOverride()
  .configureOutput({ writeErr: () => undefined });

program
  .command('calendars')
  .description('list jurisdictions, rules, windows and the calendar version')
  .option('--lint', 'validate the calendar files and report problems')
  .action((opts: { lint?: boolean }) => {
    const set = cal();
    if (opts.lint) out({ ok: true, files: set.files.length, rules: set.files.reduce((n, f) => n + f.rules.length, 0), calendarVersion: set.version });
    else out(describeCalendars(set));
  });

program
  .command('locate')
  .description('state, time zones and candidate (jurisdiction, zone) pairs of zip codes')
  .argument('<zip...>')
  .option('--phone <number>', 'phone number (its area code adds candidates)')
  .action((zips: string[], opts: { phone?: string }) => {
    let failed = false;
    for (const zip of zips) {
      const loc = resolveLocation({ zip, phone: opts.phone });
      const hard = loc.issues.find((i) => INPUT_ERROR_CODES.has(i.code) || UNRESOLVABLE_CODES.has(i.code));
      if (hard) {
        failed = true;
        out({ zip, error: { code: hard.code, message: hard.message } });
        continue;
      }
      out({ zip: loc.zip, state: loc.state ?? null, timezones: loc.zones, candidates: loc.candidates, ...(loc.issues.length ? { issues: loc.issues } : {}) });
    }
    if (failed) process.exitCode = 2;
  });

// Values are validated by parseCheckRequest (stable error codes), not by commander.
const channelOpt = () => new Option('--channel <channel>', 'sms | voice');
const policyOpt = () => new Option('--policy <policy>', 'cancel | next_slot | previous_slot');
const purposeOpt = () => new Option('--purpose <purpose>', 'marketing | informational');
const unresolvedOpt = () => new Option('--unresolved <mode>', 'cancel | strictest (for unknown zips, APO/FPO, non-US numbers)');

program
  .command('check')
  .description('decide one send: send, reschedule or cancel, with reasons')
  .requiredOption('--zip <zip>')
  .option('--phone <number>')
  .addOption(channelOpt())
  .requiredOption('--at <iso>', 'requested instant, ISO-8601 with Z or an offset')
  .addOption(policyOpt().default('next_slot'))
  .addOption(purposeOpt().default('marketing'))
  .option('--now <iso>', 'the current instant (default: the clock)')
  .option('--not-after <iso>', 'next_slot must not go past this instant')
  .option('--subject <subject>', 'subject for frequency caps')
  .addOption(unresolvedOpt().default('cancel'))
  .action((o: Record<string, string | undefined>) => {
    const req = parseCheckRequest({ zip: o.zip, phone: o.phone, channel: o.channel, at: o.at, policy: o.policy, purpose: o.purpose, now: o.now, notAfter: o.notAfter, unresolved: o.unresolved, subject: o.subject }, Date.now());
    out(evaluate(cal(), req));
  });

program
  .command('plan')
  .description('decide every row of a contact file (JSONL or CSV); summary on stderr')
  .requiredOption('--in <file>', 'input file, or - for stdin')
  .addOption(new Option('--format <format>', 'jsonl | csv (default: from the file name)').choices(['jsonl', 'csv']))
  .addOption(channelOpt())
  .addOption(policyOpt())
  .addOption(purposeOpt())
  .option('--at <iso>', 'default requested instant for rows without one')
  .option('--now <iso>', 'the current instant (default: the clock)')
  .addOption(unresolvedOpt())
  .action(async (o: Record<string, string | undefined>) => {
    const summary = await runPlan(
      cal(),
      {
        in: o.in!,
        format: o.format as 'jsonl' | 'csv' | undefined,
        defaults: { channel: o.channel, policy: o.policy, purpose: o.purpose, at: o.at, now: o.now, unresolved: o.unresolved },
        now: Date.now(),
      },
      { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    );
    process.stderr.write(formatSummary(summary));
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      fail('INVALID_ARGUMENT', e.message.replace(/^error: /, ''));
    }
    if (e instanceof AppError) fail(e.code, e.message);
    if (e instanceof CalendarFileError) fail('CALENDAR_INVALID', e.message);
    process.stderr.write(`internal error: ${(e as Error).message}\n`);
    fail('INTERNAL', 'unexpected error');
  }
}

await main();
