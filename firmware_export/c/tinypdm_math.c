/**
 * @file tinypdm_math.c
 * @brief log10 from IEEE basic operations only: the same bits on the device and the host.
 *
 * x = 2^k m with m in [sqrt(2)/2, sqrt(2)), f = m - 1 (exact), and
 *
 *   log(1 + f) = f - f^2/2 + s (f^2/2 + R(s)),   s = f / (2 + f),
 *   R(s) = 2 s^2/3 + 2 s^4/5 + ... + 2 s^10/11     (|s| <= 0.172: truncation < 2^-33 of the
 *                                                   result),
 *
 * an identity (2 s = f - s f) that keeps the large terms exact: f - f^2/2 is carried as a
 * double-float (f^2 from 12-bit halves, products exact; Fast2Sum for the difference) and
 * only the last term, under 6 % of log(1 + f), is rounded in float. The product with
 * log10(e) and the sum with k log10(2) are again double-float (constants split so that
 * k * LOG10_2_HI and the 12-bit halves times LOG10E_HI are exact), and the result is
 * rounded once at the end: error below 0.5 ulp plus about 0.2 ulp.
 *
 * Bit-identical results need IEEE binary32 evaluated in float (FLT_EVAL_METHOD 0) and no
 * contraction of a * b + c into a fused multiply-add: GCC contracts only in GNU modes, so
 * -std=c99 (both builds of this project; the Cortex-M4 build also passes
 * -ffp-contract=off) is enough; Clang contracts within an expression unless told not to,
 * hence the pragma. Every product whose rounding matters stands in an expression of its own
 * or is exact, so a contracting compiler would change at most those few roundings.
 */
#include "tinypdm_math.h"

#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* log10(e) = LOG10E_HI + LOG10E_LO, LOG10E_HI with 12 significant bits. */
#define LOG10E_HI 0x1.bcap-2f
#define LOG10E_LO 0x1.7b1526p-14f
#define LOG10E 0x1.bcb7b2p-2f
/* log10(2) = LOG10_2_HI + LOG10_2_LO, LOG10_2_HI with 11 significant bits. */
#define LOG10_2_HI 0x1.344p-2f
#define LOG10_2_LO 0x1.3509f8p-18f
/* Taylor coefficients of R: 2 / (2 j + 1). */
#define R1 0x1.555556p-1f /* 2/3 */
#define R2 0x1.99999ap-2f /* 2/5 */
#define R3 0x1.24924ap-2f /* 2/7 */
#define R4 0x1.c71c72p-3f /* 2/9 */
#define R5 0x1.745d18p-3f /* 2/11 */

static uint32_t float_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static float bits_float(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* The 12 leading significant bits of x (exact: clears the low 12 of the 24). */
static float high12(float x) {
  return bits_float(float_bits(x) & 0xFFFFF000u);
}

float tinypdm_log10f(float x) {
  uint32_t ix = float_bits(x);
  int32_t k = 0;
  float f;
  float s;
  float z;
  float r;
  float fh;
  float fl;
  float h1;
  float h2;
  float big;
  float small;
  float corr;
  float lo;
  float bh;
  float bl;
  float t1;
  float t2;
  float t3;
  float t4;
  float u;
  float ue;
  float v;
  float ve;
  float bp;
  float ap;

  if (ix >= 0x7F800000u) {                      /* +inf, NaN or negative */
    if ((ix & 0x7FFFFFFFu) > 0x7F800000u) {     /* NaN: itself */
      return x;
    }
    if (ix == 0x7F800000u) {                    /* +inf */
      return x;
    }
    if (ix == 0x80000000u) {                    /* -0 */
      return bits_float(0xFF800000u);
    }
    return bits_float(0x7FC00000u);             /* x < 0: the same quiet NaN everywhere */
  }
  if (ix == 0u) {
    return bits_float(0xFF800000u);             /* -inf */
  }
  if (ix < 0x00800000u) {                       /* subnormal: scale into the normal range */
    ix = float_bits(x * 0x1p25f);
    k = -25;
  }
  k += (int32_t)(ix >> 23) - 127;
  ix &= 0x007FFFFFu;
  if (ix > 0x003504F3u) { /* mantissa above sqrt(2): m / 2 in [sqrt(2)/2, 1) */
    ix |= 0x3F000000u;
    k += 1;
  } else {
    ix |= 0x3F800000u;
  }
  f = bits_float(ix) - 1.0f; /* exact (Sterbenz) */

  /* f^2 / 2 = h1 + h2: fh * fh, fh * fl and fl * fl are exact. */
  fh = high12(f);
  fl = f - fh;
  h1 = 0.5f * (fh * fh);
  h2 = fh * fl;
  h2 = h2 + 0.5f * (fl * fl);

  /* The small term s (f^2/2 + R), rounded in float. */
  s = f / (2.0f + f);
  z = s * s;
  r = R5 * z;
  r = (R4 + r) * z;
  r = (R3 + r) * z;
  r = (R2 + r) * z;
  r = (R1 + r) * z;
  corr = (h1 + h2) + r;
  corr = s * corr;

  /* log(1 + f) = big + small with big = f - h1 exactly split (Fast2Sum, |f| >= |h1|). */
  big = f - h1;
  small = (f - big) - h1;
  small = (small - h2) + corr;

  /* log10(x) = k LOG10_2 + (big + small) LOG10E, summed in double-float, rounded once. */
  bh = high12(big);
  bl = big - bh;
  t1 = (float)k * LOG10_2_HI; /* exact: |k| < 2^8, 11-bit constant */
  t2 = bh * LOG10E_HI;        /* exact: 12 x 12 bits */
  t3 = bl * LOG10E_HI;        /* exact: 12 x 12 bits */
  t4 = big * LOG10E_LO;
  lo = small * LOG10E;
  t4 = t4 + lo;
  lo = (float)k * LOG10_2_LO;
  t4 = t4 + lo;
  u = t2 + t3; /* Fast2Sum: |t2| >= |t3| */
  ue = t3 - (u - t2);
  v = t1 + u; /* TwoSum */
  bp = v - t1;
  ap = v - bp;
  ve = (t1 - ap) + (u - bp);
  return v + ((ue + ve) + t4);
}
