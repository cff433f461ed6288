/** One `tcpa plan` line as text: what a writer puts into a LineBuffer of its own, without the newline. */
import type { DecisionView } from '../../src/app/evaluate.ts';
import { LineBuffer, writeErrorLine, writeViewLine } from '../../src/cli/plan-json.ts';

export function lineText(write: (out: LineBuffer) => void): string {
  const out = new LineBuffer();
  write(out);
  const text = Buffer.concat(out.take(true)).toString('utf8');
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new Error(`not one line: ${JSON.stringify(text)}`);
  return text.slice(0, -1);
}

export const viewLine = (id: unknown, view: DecisionView): string => lineText((out) => writeViewLine(out, id, view));
export const errorLine = (id: unknown, line: number, code: string, message: string): string => lineText((out) => writeErrorLine(out, id, line, code, message));
