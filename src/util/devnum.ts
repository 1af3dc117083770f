/**
 * glibc's major() and minor() of an st_rdev: 12+ and 20+ bits, each split
 * in two (sys/sysmacros.h). BigInt, so a 64-bit rdev loses nothing.
 */
export function devNumbers(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)),
    minor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)),
  };
}
