/**
 * Kraken spot book checksum (WS v1 and v2): CRC32 (IEEE, unsigned) of the top 10 asks (price low →
 * high) then the top 10 bids (high → low), each level written as price text then qty text at the
 * pair's precision with the '.' removed and leading zeros stripped.
 *
 * On an integer grid whose step is 10^-scale, "text at the precision without '.' and leading
 * zeros" is exactly the decimal form of the integer number of units — so the checksum is computed
 * from the book's integers, never from floats.
 */
import { crc32 } from 'node:zlib';
import type { L2Book, BookSide } from '#core/book.ts';
import { intText } from '#core/grid.ts';
import type { BookGrids } from '../book-feed.ts';

export const CHECKSUM_LEVELS = 10;

/** Units of an integer number of steps, exact even beyond 2^53. */
function unitText(steps: number, stepUnits: number): string {
  const units = steps * stepUnits;
  return units <= Number.MAX_SAFE_INTEGER ? String(units) : (BigInt(steps) * BigInt(stepUnits)).toString();
}

function appendSide(out: string, side: BookSide, grids: BookGrids): string {
  const n = Math.min(CHECKSUM_LEVELS, side.depth);
  const pu = grids.price.stepUnits;
  const qu = grids.qty.stepUnits;
  for (let i = 0; i < n; i++) {
    const q = side.exactQtyAt(i);
    const qUnits =
      typeof q === 'bigint' || q * qu > Number.MAX_SAFE_INTEGER ? BigInt(q) * BigInt(qu) : q * qu;
    out += unitText(side.priceAt(i), pu) + (typeof qUnits === 'bigint' ? qUnits.toString() : intText(qUnits));
  }
  return out;
}

/** The text the checksum is taken over (exposed for diagnostics and tests). */
export function checksumText(book: L2Book, grids: BookGrids): string {
  return appendSide(appendSide('', book.asks, grids), book.bids, grids);
}

export function bookChecksum(book: L2Book, grids: BookGrids): number {
  return crc32(checksumText(book, grids)) >>> 0;
}
