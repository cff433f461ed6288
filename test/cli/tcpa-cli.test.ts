/** The `tcpa` command line as a user runs it: a child process, JSON out, exit codes. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../bin/tcpa.mjs');
function tcpa(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, TZ: 'America/Denver' } });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.status, lines, json: lines[0], stdout: r.stdout, stderr: r.stderr };
}

describe('tcpa locate', () => {
  it('prints one JSON line per zip, errors included, and exits 2 if any zip failed', () => {
    const r = tcpa(['locate', '10001', '86045', '1234', '09001']);
    expect(r.code).toBe(2);
    expect(r.lines[0]).toEqual({ zip: '10001', state: 'NY', timezones: ['America/New_York'], candidates: [{ jurisdiction: 'NY', zone: 'America/New_York', source: 'zip' }] });
    expect(r.lines[1]).toMatchObject({ zip: '86045', state: 'AZ', timezones: ['America/Denver', 'America/Phoenix'] });
    expect(r.lines[2]).toMatchObject({ zip: '1234', error: { code: 'INVALID_ZIP' } });
    expect(r.lines[3]).toMatchObject({ zip: '09001', error: { code: 'MILITARY_ZIP' } });
    expect(tcpa(['locate', '10001']).code).toBe(0);
  });
});

describe('tcpa check', () => {
  it('decides with reasons, sendAt in UTC and localSendAt with the offset (host TZ does not leak)', () => {
    const r = tcpa(['check', '--zip', '75201', '--channel', 'sms', '--at', '2026-03-15T15:00:00Z', '--now', '2026-03-15T15:00:00Z']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ decision: 'reschedule', sendAt: '2026-03-15T17:00:00Z', localSendAt: '2026-03-15T12:00:00-05:00', state: 'TX', timezones: ['America/Chicago'] });
    expect(r.json!.calendarVersion).toMatch(/^cal-[0-9a-f]{16}$/);
    const reason = (r.json!.reasons as Array<Record<string, unknown>>).find((x) => x.rule === 'TX.hours')!;
    expect(Object.keys(reason).sort()).toEqual(['citation', 'code', 'jurisdiction', 'local', 'message', 'rule', 'timezone']);
  });

  it('policy cancel and previous_slot', () => {
    expect(tcpa(['check', '--zip', '10001', '--channel', 'voice', '--at', '2026-03-07T12:00:00Z', '--now', '2026-03-07T00:00:00Z', '--policy', 'cancel']).json).toMatchObject({ decision: 'cancel', sendAt: null, localSendAt: null });
    expect(tcpa(['check', '--zip', '10001', '--channel', 'sms', '--at', '2026-03-10T02:00:00Z', '--now', '2026-03-09T12:00:00Z', '--policy', 'previous_slot']).json).toMatchObject({ decision: 'reschedule', sendAt: '2026-03-10T00:59:00Z' });
  });

  it.each([
    [['--zip', '10001', '--channel', 'fax', '--at', '2026-03-10T15:00:00Z'], 'INVALID_CHANNEL'],
    [['--zip', '10001', '--channel', 'sms', '--at', 'tomorrow'], 'INVALID_INSTANT'],
    [['--zip', '10001', '--channel', 'sms', '--at', '2026-03-10T15:00:00'], 'INVALID_INSTANT'],
    [['--zip', '10001', '--channel', 'sms', '--at', '2026-03-10T15:00:00Z', '--policy', 'asap'], 'INVALID_POLICY'],
    [['--zip', '10001', '--channel', 'sms', '--at', '2026-03-10T15:00:00Z', '--purpose', 'spam'], 'INVALID_PURPOSE'],
    [['--zip', '00000', '--channel', 'sms', '--at', '2026-03-10T15:00:00Z'], 'UNKNOWN_ZIP'],
    [['--zip', '123', '--channel', 'sms', '--at', '2026-03-10T15:00:00Z'], 'INVALID_ZIP'],
    [['--zip', '10001', '--phone', '12', '--channel', 'sms', '--at', '2026-03-10T15:00:00Z'], 'INVALID_PHONE'],
    [['--zip', '10001', '--channel', 'sms'], 'INVALID_ARGUMENT'],
    [['--zip', '10001', '--channel', 'sms', '--at', '2026-03-10T15:00:00Z', '--bogus'], 'INVALID_ARGUMENT'],
  ])('bad input %j exits 2 with %s and no stack trace', (args, code) => {
    const r = tcpa(['check', ...args]);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code } });
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('an unknown zip is decided under --unresolved strictest', () => {
    const r = tcpa(['check', '--zip', '00000', '--channel', 'sms', '--at', '2026-03-10T21:00:00Z', '--now', '2026-03-10T21:00:00Z', '--unresolved', 'strictest']);
    expect(r.code).toBe(0);
    expect(['send', 'reschedule', 'cancel']).toContain(r.json!.decision);
  });
});

describe('tcpa plan', () => {
  it('decides every JSONL row, reports bad rows and goes on; summary on stderr', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plan-'));
    const file = join(dir, 'contacts.jsonl');
    writeFileSync(
      file,
      [
        { id: 'a', zip: '10001', at: '2026-03-07T12:00:00Z' },
        { id: 'b', zip: '75201', at: '2026-03-15T15:00:00Z', channel: 'voice', policy: 'cancel' },
        { id: 'c', zip: '99999x', at: '2026-03-07T12:00:00Z' },
        { id: 'd', zip: '10001', at: 'soon' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n{oops\n',
    );
    const r = tcpa(['plan', '--in', file, '--channel', 'sms', '--now', '2026-03-01T00:00:00Z']);
    expect(r.code).toBe(0);
    expect(r.lines).toHaveLength(5);
    expect(r.lines[0]).toMatchObject({ id: 'a', decision: 'reschedule', sendAt: '2026-03-07T13:00:00Z' });
    expect(r.lines[1]).toMatchObject({ id: 'b', decision: 'cancel' });
    expect(r.lines[2]).toMatchObject({ id: 'c', error: { code: 'INVALID_ZIP' } });
    expect(r.lines[3]).toMatchObject({ id: 'd', error: { code: 'INVALID_INSTANT' } });
    expect(r.lines[4]).toMatchObject({ id: null, line: 5, error: { code: 'INVALID_ROW' } });
    expect(r.stderr).toMatch(/rows: 5 {2}errors: 3/);
    expect(r.stderr).toMatch(/decisions: reschedule=1 cancel=1/);
    expect(r.stderr).toMatch(/08:00 █+ 1/);
  });

  it('reads CSV from stdin; row values override flags', () => {
    const csv = 'id,zip,phone,at,channel,policy,purpose\n1,02903,,2026-03-14T13:30:00Z,voice,,\n2,84101,,2026-07-24T16:00:00Z,,cancel,\n';
    const r = tcpa(['plan', '--in', '-', '--format', 'csv', '--channel', 'sms', '--now', '2026-03-01T00:00:00Z'], csv);
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatchObject({ id: '1', decision: 'reschedule', sendAt: '2026-03-14T14:00:00Z' });
    expect(r.lines[1]).toMatchObject({ id: '2', decision: 'cancel' });
    expect((r.lines[1]!.reasons as Array<{ code: string }>)[0]!.code).toBe('HOLIDAY');
  });

  it('a row decides the same whatever rows came before it (same states, other order)', () => {
    // A New York zip with a Hawaii phone and a Hawaii zip with a New York phone: same candidate
    // states and zones, each row with its own zip's zone in localSendAt.
    const ny = '{"id":"ny","zip":"10001","phone":"+18085550123","at":"2026-03-10T19:00:00Z"}';
    const hi = '{"id":"hi","zip":"96820","phone":"+12125550123","at":"2026-03-10T19:00:00Z"}';
    const args = ['plan', '--in', '-', '--channel', 'sms', '--now', '2026-03-01T00:00:00Z'];
    const alone = tcpa(args, `${hi}\n`).stdout;
    const after = tcpa(args, `${ny}\n${hi}\n`).stdout.split('\n')[1] + '\n';
    expect(after).toBe(alone);
    expect(JSON.parse(alone)).toMatchObject({ id: 'hi', localSendAt: expect.stringMatching(/-10:00$/) });
  });

  it('an unreadable file exits 2 with FILE_UNREADABLE', () => {
    const r = tcpa(['plan', '--in', '/nonexistent/contacts.jsonl', '--channel', 'sms']);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code: 'FILE_UNREADABLE' } });
  });
});

describe('tcpa calendars', () => {
  it('lists jurisdictions with rules and the version; --lint validates', () => {
    const r = tcpa(['calendars']);
    expect(r.code).toBe(0);
    const tx = (r.json!.jurisdictions as Array<{ jurisdiction: string; rules: Array<{ id: string; windows: Record<string, string> }> }>).find((j) => j.jurisdiction === 'TX')!;
    expect(tx.rules[0]!.windows.sun).toBe('12:00-21:00');
    expect(tcpa(['calendars', '--lint']).json).toMatchObject({ ok: true, calendarVersion: r.json!.calendarVersion });
  });

  it('--lint on a broken file exits 2 naming the file and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cal-'));
    cpSync(join(import.meta.dirname, '../../calendars'), dir, { recursive: true });
    writeFileSync(join(dir, 'WY.json'), JSON.stringify({ jurisdiction: 'WY', name: 'Wyoming', kind: 'state', rules: [{ id: 'WY.x', description: 'd', channels: ['fax'], purposes: ['marketing'], citation: 'c', confidence: 'low', weekly: null }] }));
    const r = tcpa(['--calendars', dir, 'calendars', '--lint']);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ error: { code: 'CALENDAR_INVALID' } });
    expect((r.json!.error as { message: string }).message).toMatch(/^WY\.json: rules\[0\]\.channels\[0\]/);
  });
});
