/**
 * @file tinypdm_features.c
 * @brief docs/features.md in float32, in place, no allocation.
 *
 * Three passes over the window, then the FFT:
 *
 * 1. the mean as m0 + m1: m0 the pairwise mean of x, m1 the pairwise mean of the residuals
 *    x - m0. The residuals are exact (Sterbenz) wherever an offset dominates the window and,
 *    being centred, sum with little error: a small vibration on a large offset (gravity on
 *    an accelerometer axis) keeps its digits. A constant window gives m0 = x exactly, d = 0,
 *    m2 = 0.
 * 2. d = (x - m0) - m1; sums of d^2 and d^4 (blocks of 8 in registers, then a pairwise cascade
 *    over the blocks: error grows with 8 + log2(N / 8), not N), the peak, and the periodic
 *    Hann window from the twiddle table, in place.
 * 3. radix-4 FFT of the window viewed as N/2 complex points (one radix-2 stage first when
 *    log2(N/2) is odd), the real split step, band powers, tinypdm_log10f.
 *
 * Only IEEE basic operations, sqrtf and fabsf (both exact or correctly rounded) and
 * tinypdm_log10f (the library's own, not libm's): the device and a host build of this file
 * compute the same bits, given float evaluation in float and no fused multiply-add
 * contraction (-std=c99 with GCC, -ffp-contract=off; see tinypdm_math.h).
 */
#include "tinypdm_features.h"

#include <math.h>

#include "model_data.h"
#include "tinypdm_math.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if (1 << TINYPDM_LOG2_WINDOW) != TINYPDM_WINDOW || TINYPDM_WINDOW < 64
#error "TINYPDM_WINDOW must be a power of two >= 64"
#endif
#if TINYPDM_VEL_BIN_LO < 1 || TINYPDM_VEL_BIN_HI < TINYPDM_VEL_BIN_LO || \
    TINYPDM_VEL_BIN_HI >= TINYPDM_WINDOW / 2
#error "velocity bins must satisfy 1 <= lo <= hi < TINYPDM_WINDOW / 2"
#endif

#define HALF (TINYPDM_WINDOW / 2)
/** Samples summed in registers before a block sum joins the pairwise cascade. */
#define BLOCK 8u
#define LOG2_BLOCKS (TINYPDM_LOG2_WINDOW - 3)

static void swap_points(float *z, uint32_t a, uint32_t b) {
  float *pa = &z[2u * a];
  float *pb = &z[2u * b];
  const float re = pa[0];
  const float im = pa[1];
  pa[0] = pb[0];
  pa[1] = pb[1];
  pb[0] = re;
  pb[1] = im;
}

/* Bit-reversal permutation of h complex points stored interleaved (re, im). For even
 * i < h/2 with j = rev(i) (also even, < h/2): rev(i + 1) = j + h/2 and
 * rev(i + h/2 + 1) = j + h/2 + 1, so one reversed counter serves four points
 * (rev(i + h/2) = j + 1 is the pair (j + 1, i + h/2) of the iteration at j). */
static void bit_reverse(float *z, uint32_t h) {
  uint32_t i;
  uint32_t r = 0; /* rev(i / 2) over log2(h) - 2 bits; rev(i) = 2 r */
  for (i = 0; i < h / 2; i += 2) {
    const uint32_t j = 2u * r;
    uint32_t bit = h / 8;
    swap_points(z, i + 1u, j + h / 2);
    if (i < j) {
      swap_points(z, i, j);
      swap_points(z, i + h / 2 + 1u, j + h / 2 + 1u);
    }
    while ((r & bit) != 0u) {
      r ^= bit;
      bit >>= 1;
    }
    r |= bit;
  }
}

/* The first radix-2 stage: 2-point DFTs of neighbouring points (no twiddles). */
static void radix2_first(float *z, uint32_t n) {
  float *p;
  for (p = z; p < z + n; p += 4) {
    const float ar = p[0];
    const float ai = p[1];
    const float br = p[2];
    const float bi = p[3];
    p[0] = ar + br;
    p[1] = ai + bi;
    p[2] = ar - br;
    p[3] = ai - bi;
  }
}

/* One radix-4 decimation-in-time stage: each group of 4q points holds four q-point DFTs in
 * bit-reversed order, F0, F2, F1, F3 (F_r of the points r mod 4), combined into one 4q-point
 * DFT with W = W_4q = exp(-2 pi i / 4q):
 *   X[k] = (F0 + W^2k F2) + (W^k F1 + W^3k F3),   X[k + 2q] = (F0 + W^2k F2) - (...),
 *   X[k + q] = (F0 - W^2k F2) - i (W^k F1 - W^3k F3),   X[k + 3q] = (...) + i (...).
 * W_4q^k = W_N^(k step) with step = N / 4q comes from the N-point tables; W_N^j for
 * j >= N/2 is -W_N^(j - N/2). k = 0 needs no multiplication. */
static void radix4_stage(float *z, uint32_t n, uint32_t q) {
  const uint32_t step = (uint32_t)TINYPDM_WINDOW / (4u * q);
  const uint32_t stride = 2u * q; /* floats between the four inputs */
  const uint32_t group = 8u * q;  /* floats between groups */
  float *const end = z + n;
  uint32_t k;
  float *p;
  for (p = z; p < end; p += group) {
    float *p1 = p + stride;
    float *p2 = p1 + stride;
    float *p3 = p2 + stride;
    const float a0r = p[0] + p1[0];
    const float a0i = p[1] + p1[1];
    const float a1r = p[0] - p1[0];
    const float a1i = p[1] - p1[1];
    const float b0r = p2[0] + p3[0];
    const float b0i = p2[1] + p3[1];
    const float b1r = p2[0] - p3[0];
    const float b1i = p2[1] - p3[1];
    p[0] = a0r + b0r;
    p[1] = a0i + b0i;
    p2[0] = a0r - b0r;
    p2[1] = a0i - b0i;
    p1[0] = a1r + b1i;
    p1[1] = a1i - b1r;
    p3[0] = a1r - b1i;
    p3[1] = a1i + b1r;
  }
  for (k = 1; k < q; ++k) {
    /* W^k = c1 - i s1, W^2k = c2 - i s2, W^3k = c3 - i s3 */
    const uint32_t j1 = k * step;
    const uint32_t j2 = 2u * j1;
    const uint32_t j3 = j1 + j2;
    const float c1 = tinypdm_fft_cos[j1];
    const float s1 = tinypdm_fft_sin[j1];
    const float c2 = tinypdm_fft_cos[j2];
    const float s2 = tinypdm_fft_sin[j2];
    float c3;
    float s3;
    if (j3 < HALF) {
      c3 = tinypdm_fft_cos[j3];
      s3 = tinypdm_fft_sin[j3];
    } else {
      c3 = -tinypdm_fft_cos[j3 - HALF];
      s3 = -tinypdm_fft_sin[j3 - HALF];
    }
    for (p = z + 2u * k; p < end; p += group) {
      float *p1 = p + stride;
      float *p2 = p1 + stride;
      float *p3 = p2 + stride;
      const float t2r = p1[0] * c2 + p1[1] * s2; /* W^2k F2 */
      const float t2i = p1[1] * c2 - p1[0] * s2;
      const float t1r = p2[0] * c1 + p2[1] * s1; /* W^k F1 */
      const float t1i = p2[1] * c1 - p2[0] * s1;
      const float t3r = p3[0] * c3 + p3[1] * s3; /* W^3k F3 */
      const float t3i = p3[1] * c3 - p3[0] * s3;
      const float a0r = p[0] + t2r;
      const float a0i = p[1] + t2i;
      const float a1r = p[0] - t2r;
      const float a1i = p[1] - t2i;
      const float b0r = t1r + t3r;
      const float b0i = t1i + t3i;
      const float b1r = t1r - t3r;
      const float b1i = t1i - t3i;
      p[0] = a0r + b0r;
      p[1] = a0i + b0i;
      p2[0] = a0r - b0r;
      p2[1] = a0i - b0i;
      p1[0] = a1r + b1i;
      p1[1] = a1i - b1r;
      p3[0] = a1r - b1i;
      p3[1] = a1i + b1r;
    }
  }
}

/* In-place FFT of n/2 complex points stored interleaved (re, im) in z. */
static void complex_fft_half(float *z, uint32_t log2n) {
  const uint32_t n = 1u << log2n;
  uint32_t q = 1;
  bit_reverse(z, n / 2u);
  if (((log2n - 1u) & 1u) != 0u) {
    radix2_first(z, n);
    q = 2;
  }
  for (; q < n / 2u; q *= 4u) {
    radix4_stage(z, n, q);
  }
}

void tinypdm_rfft(float *x) { tinypdm_rfft_n(x, TINYPDM_LOG2_WINDOW); }

void tinypdm_rfft_n(float *x, uint32_t log2n) {
  const uint32_t h = 1u << (log2n - 1u);                    /* n / 2 */
  const uint32_t tw = (uint32_t)TINYPDM_WINDOW >> log2n;    /* table stride */
  uint32_t k;
  float z0r;
  float z0i;
  /* x viewed as h complex points z[n] = x[2n] + i x[2n+1] */
  complex_fft_half(x, log2n);
  z0r = x[0];
  z0i = x[1];
  x[0] = z0r + z0i; /* Y[0] */
  x[1] = z0r - z0i; /* Y[N/2] */
  /* Split: Y[k] = E[k] + W^k O[k], Y[HALF-k] = conj(E[k] - W^k O[k]) with
   * E[k] = (Z[k] + conj Z[HALF-k]) / 2, O[k] = (Z[k] - conj Z[HALF-k]) / (2i). */
  for (k = 1; k <= h / 2u; ++k) {
    const uint32_t m = h - k;
    const float ar = x[2 * k];
    const float ai = x[2 * k + 1];
    const float br = x[2 * m];
    const float bi = x[2 * m + 1];
    const float er = 0.5f * (ar + br);
    const float ei = 0.5f * (ai - bi);
    const float or_ = 0.5f * (ai + bi);
    const float oi = -0.5f * (ar - br);
    const float wr = tinypdm_fft_cos[k * tw];
    const float wi = -tinypdm_fft_sin[k * tw];
    const float tr = wr * or_ - wi * oi;
    const float ti = wr * oi + wi * or_;
    x[2 * k] = er + tr;
    x[2 * k + 1] = ei + ti;
    if (m != k) {
      x[2 * m] = er - tr;
      x[2 * m + 1] = -(ei - ti);
    }
  }
}

/* Pairwise (cascade) summation of block sums: after adding block i, partial[k] holds the
 * sum of the last complete run of 2^k blocks; after 2^LOG2_BLOCKS blocks, partial[LOG2_BLOCKS]
 * is the total. */
static void cascade_add(float *partial, uint32_t i, float v) {
  uint32_t k = 0;
  while ((i & 1u) != 0u) {
    v = partial[k] + v;
    i >>= 1;
    ++k;
  }
  partial[k] = v;
}

/* Mean of fl(x[i] - offset) over the window: blocks of 8 summed as a pairwise tree, block
 * sums through the cascade. Exact for a constant window (x - offset constant: every partial
 * sum is a power-of-two multiple of it). */
static float shifted_mean(const float *x, float offset) {
  float partial[LOG2_BLOCKS + 1];
  uint32_t i;
  for (i = 0; i < TINYPDM_WINDOW / BLOCK; ++i) {
    const float *b = &x[BLOCK * i];
    const float s01 = (b[0] - offset) + (b[1] - offset);
    const float s23 = (b[2] - offset) + (b[3] - offset);
    const float s45 = (b[4] - offset) + (b[5] - offset);
    const float s67 = (b[6] - offset) + (b[7] - offset);
    cascade_add(partial, i, (s01 + s23) + (s45 + s67));
  }
  return partial[LOG2_BLOCKS] * (1.0f / (float)TINYPDM_WINDOW); /* exact scaling */
}

void tinypdm_features_compute(float *x, float *features, tinypdm_window_stats_t *stats) {
  const float inv_n = 1.0f / (float)TINYPDM_WINDOW; /* a power of two: exact */
  float sum2[LOG2_BLOCKS + 1];
  float sum4[LOG2_BLOCKS + 1];
  float m0;
  float m1;
  float peak = 0.0f;
  float m2;
  float m4;
  float rms;
  float kurtosis;
  float crest;
  uint32_t i;
  uint32_t j;
  uint32_t half;
  uint32_t block = 0;

  /* 1. mean = m0 + m1 */
  m0 = shifted_mean(x, 0.0f);
  m1 = shifted_mean(x, m0);

  /* 2. d = (x - m0) - m1; m2, m4, peak; the periodic Hann window w[n] = 0.5 - 0.5 cos(2 pi n / N)
   * is 0.5 - 0.5 cos[n] for n < N/2 and 0.5 + 0.5 cos[n - N/2] after. */
  for (half = 0; half < 2u; ++half) {
    float *const xh = x + half * HALF;
    const float c = half == 0u ? -0.5f : 0.5f;
    for (i = 0; i < HALF; i += BLOCK) {
      float s2 = 0.0f;
      float s4 = 0.0f;
      uint32_t t;
      for (t = i; t < i + BLOCK; ++t) {
        const float d = (xh[t] - m0) - m1;
        const float d2 = d * d;
        const float a = fabsf(d);
        s2 += d2;
        s4 += d2 * d2;
        if (a > peak) {
          peak = a;
        }
        xh[t] = d * (0.5f + c * tinypdm_fft_cos[t]);
      }
      cascade_add(sum2, block, s2);
      cascade_add(sum4, block, s4);
      ++block;
    }
  }
  m2 = sum2[LOG2_BLOCKS] * inv_n;
  m4 = sum4[LOG2_BLOCKS] * inv_n;
  rms = sqrtf(m2);
  kurtosis = m2 > 0.0f ? m4 / (m2 * m2) : 0.0f;
  crest = rms > 0.0f ? peak / rms : 0.0f;

  /* 3. spectrum and bands; bin N/2 (Re Y[N/2] in x[1]) closes the last band it belongs to */
  tinypdm_rfft(x);
  for (j = 0; j < TINYPDM_N_BANDS; ++j) {
    const uint32_t lo = tinypdm_band_edges[j];
    const uint32_t hi = tinypdm_band_edges[j + 1];
    const uint32_t top = hi > HALF ? HALF : hi;
    float e = 0.0f;
    uint32_t k;
    for (k = lo; k < top; ++k) {
      const float re = x[2 * k];
      const float im = x[2 * k + 1];
      e += re * re + im * im;
    }
    if (hi > HALF) {
      e += x[1] * x[1];
    }
    features[j] = tinypdm_log10f(e * TINYPDM_BAND_NORM + TINYPDM_EPS);
  }
  features[TINYPDM_N_BANDS] = tinypdm_log10f(m2 + TINYPDM_EPS);
  if (stats != 0) {
    /* velocity: V(f) = A(f) / (2 pi f), so |V[k]|^2 = |Y[k]|^2 / k^2 * (N / (2 pi fs))^2;
     * TINYPDM_VEL_NORM = TINYPDM_BAND_NORM * (N / (2 pi fs))^2 (docs/features.md) */
    float v = 0.0f;
    uint32_t k;
    for (k = TINYPDM_VEL_BIN_LO; k <= TINYPDM_VEL_BIN_HI; ++k) {
      /* bin 1 without the leakage of the window's Hann-weighted mean: Y[1] + Y[0] / 2 */
      const float re = k == 1u ? x[2] + 0.5f * x[0] : x[2 * k];
      const float im = x[2 * k + 1];
      const float kf = (float)k;
      v += (re * re + im * im) / (kf * kf);
    }
    stats->velocity = sqrtf(v * TINYPDM_VEL_NORM);
  }
  features[TINYPDM_N_BANDS + 1] = kurtosis;
  features[TINYPDM_N_BANDS + 2] = crest;
  if (stats != 0) {
    stats->mean = m0 + m1;
    stats->m2 = m2;
    stats->rms = rms;
    stats->kurtosis = kurtosis;
    stats->crest = crest;
  }
}
