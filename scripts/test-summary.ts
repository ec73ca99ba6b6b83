// Prints vitest's JSON report as one "N passed, N failed" line; fails when no test ran.
import { readFileSync } from 'node:fs';

const path = process.argv[2] ?? '.segstream/vitest-report.json';
const report = JSON.parse(readFileSync(path, 'utf8')) as {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
};
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(report.numTotalTests === 0 || report.numFailedTests > 0 ? 1 : 0);
