/**
 * Real recorded venue traffic lives in ../shared/exchange-data (never copied into the project).
 * Tests that read it skip, saying why, when it is absent, so a fresh clone still passes.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const EXCHANGE_DATA = fileURLToPath(new URL('../../../shared/exchange-data/', import.meta.url));

export const hasExchangeData = existsSync(join(EXCHANGE_DATA, 'README.md'));

export function dataFile(...parts: string[]): string {
  return join(EXCHANGE_DATA, ...parts);
}

export const skipReason = `real recordings not found at ${EXCHANGE_DATA} (../shared/exchange-data); skipping`;

if (!hasExchangeData) console.warn(skipReason);
