/**
 * @file tinypdm_features.c
 * @brief docs/features.md in float32, in place, no allocation.
 */
#include "tinypdm_features.h"

#include <math.h>

#include "model_data.h"

#if (1 << TINYPDM_LOG2_WINDOW) != TINYPDM_WINDOW || TINYPDM_WINDOW < 4
#error "TINYPDM_WINDOW must be a power of two >= 4"
#endif

#define HALF (TINYPDM_WINDOW / 2)

/* In-place radix-2 decimation-in-time FFT of HALF complex points stored interleaved
 * (re, im) in z. Twiddles W_HALF^j = W_N^(2j) come from the generated N-point tables. */
static void complex_fft_half(float *z) {
  uint32_t i;
  uint32_t j = 0;
  uint32_t len;
  /* bit-reversal permutation */
  for (i = 0; i < HALF; ++i) {
    uint32_t bit;
    if (i < j) {
      float tr = z[2 * i];
      float ti = z[2 * i + 1];
      z[2 * i] = z[2 * j];
      z[2 * i + 1] = z[2 * j + 1];
      z[2 * j] = tr;
      z[2 * j + 1] = ti;
    }
    bit = HALF >> 1;
    while (bit != 0 && (j & bit) != 0) {
      j ^= bit;
      bit >>= 1;
    }
    j |= bit;
  }
  /* butterflies */
  for (len = 2; len <= HALF; len <<= 1) {
    const uint32_t half_len = len >> 1;
    const uint32_t step = (uint32_t)TINYPDM_WINDOW / len; /* W_len^k = W_N^(k*step) */
    uint32_t start;
    for (start = 0; start < HALF; start += len) {
      uint32_t k;
      for (k = 0; k < half_len; ++k) {
        const float wr = tinypdm_fft_cos[k * step];
        const float wi = -tinypdm_fft_sin[k * step];
        float *a = &z[2 * (start + k)];
        float *b = &z[2 * (start + k + half_len)];
        const float tr = b[0] * wr - b[1] * wi;
        const float ti = b[0] * wi + b[1] * wr;
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] += tr;
        a[1] += ti;
      }
    }
  }
}

void tinypdm_rfft(float *x) {
  uint32_t k;
  float z0r;
  float z0i;
  /* x viewed as HALF complex points z[n] = x[2n] + i x[2n+1] */
  complex_fft_half(x);
  z0r = x[0];
  z0i = x[1];
  x[0] = z0r + z0i; /* Y[0] */
  x[1] = z0r - z0i; /* Y[N/2] */
  /* Split: Y[k] = E[k] + W^k O[k], Y[HALF-k] = conj(E[k] - W^k O[k]) with
   * E[k] = (Z[k] + conj Z[HALF-k]) / 2, O[k] = (Z[k] - conj Z[HALF-k]) / (2i). */
  for (k = 1; k <= HALF / 2; ++k) {
    const uint32_t m = HALF - k;
    const float ar = x[2 * k];
    const float ai = x[2 * k + 1];
    const float br = x[2 * m];
    const float bi = x[2 * m + 1];
    const float er = 0.5f * (ar + br);
    const float ei = 0.5f * (ai - bi);
    const float or_ = 0.5f * (ai + bi);
    const float oi = -0.5f * (ar - br);
    const float wr = tinypdm_fft_cos[k];
    const float wi = -tinypdm_fft_sin[k];
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

/* Periodic Hann from the cosine table: w[n] = 0.5 - 0.5 cos(2 pi n / N). */
static float hann(uint32_t n) {
  float c;
  if (n < HALF) {
    c = tinypdm_fft_cos[n];
  } else if (n == HALF) {
    c = -1.0f;
  } else {
    c = tinypdm_fft_cos[TINYPDM_WINDOW - n];
  }
  return 0.5f - 0.5f * c;
}

/* Pairwise (cascade) summation: after adding value i, partial[k] holds the sum of the last
 * complete block of 2^k values; after TINYPDM_WINDOW values, partial[TINYPDM_LOG2_WINDOW] is
 * the total. Error grows with log2(N), not N, and a constant window sums exactly. */
static void cascade_add(float *partial, uint32_t i, float v) {
  uint32_t k = 0;
  while ((i & 1u) != 0u) {
    v = partial[k] + v;
    i >>= 1;
    ++k;
  }
  partial[k] = v;
}

/* The same cascade in double-float: each sum is hi + lo, with lo collecting the exact
 * rounding errors of the additions (Knuth's TwoSum; needs no fused or reordered float
 * operations, which C99 without -ffast-math guarantees). Gives the window mean to about
 * 2^-40 relative, so that mean removal does not lose the signal of a small vibration on a
 * large offset (gravity on an accelerometer axis). */
static void cascade_add2(float *hi, float *lo, uint32_t i, float v) {
  float v_lo = 0.0f;
  uint32_t k = 0;
  while ((i & 1u) != 0u) {
    const float s = hi[k] + v;
    const float bv = s - hi[k];
    const float av = s - bv;
    const float err = (hi[k] - av) + (v - bv);
    v_lo = lo[k] + v_lo + err;
    v = s;
    i >>= 1;
    ++k;
  }
  hi[k] = v;
  lo[k] = v_lo;
}

void tinypdm_features_compute(float *x, float *features, tinypdm_window_stats_t *stats) {
  const float inv_n = 1.0f / (float)TINYPDM_WINDOW; /* a power of two: exact */
  float sum_hi[TINYPDM_LOG2_WINDOW + 1];
  float sum_lo[TINYPDM_LOG2_WINDOW + 1];
  float sum2[TINYPDM_LOG2_WINDOW + 1];
  float sum4[TINYPDM_LOG2_WINDOW + 1];
  float mean_hi;
  float mean_lo;
  float peak = 0.0f;
  float m2;
  float m4;
  float rms;
  float kurtosis;
  float crest;
  uint32_t i;
  uint32_t j;

  for (i = 0; i < TINYPDM_WINDOW; ++i) {
    cascade_add2(sum_hi, sum_lo, i, x[i]);
  }
  mean_hi = sum_hi[TINYPDM_LOG2_WINDOW] * inv_n;
  mean_lo = sum_lo[TINYPDM_LOG2_WINDOW] * inv_n;
  for (i = 0; i < TINYPDM_WINDOW; ++i) {
    const float d = (x[i] - mean_hi) - mean_lo;
    const float d2 = d * d;
    const float a = fabsf(d);
    cascade_add(sum2, i, d2);
    cascade_add(sum4, i, d2 * d2);
    if (a > peak) {
      peak = a;
    }
    x[i] = d * hann(i);
  }
  m2 = sum2[TINYPDM_LOG2_WINDOW] * inv_n;
  m4 = sum4[TINYPDM_LOG2_WINDOW] * inv_n;
  rms = sqrtf(m2);
  kurtosis = m2 > 0.0f ? m4 / (m2 * m2) : 0.0f;
  crest = rms > 0.0f ? peak / rms : 0.0f;

  tinypdm_rfft(x);
  for (j = 0; j < TINYPDM_N_BANDS; ++j) {
    float e = 0.0f;
    uint32_t k;
    for (k = tinypdm_band_edges[j]; k < tinypdm_band_edges[j + 1]; ++k) {
      float p;
      if (k == HALF) {
        p = x[1] * x[1];
      } else {
        p = x[2 * k] * x[2 * k] + x[2 * k + 1] * x[2 * k + 1];
      }
      e += p;
    }
    features[j] = log10f(e * TINYPDM_BAND_NORM + TINYPDM_EPS);
  }
  features[TINYPDM_N_BANDS] = log10f(m2 + TINYPDM_EPS);
  features[TINYPDM_N_BANDS + 1] = kurtosis;
  features[TINYPDM_N_BANDS + 2] = crest;
  if (stats != 0) {
    stats->mean = mean_hi + mean_lo;
    stats->m2 = m2;
    stats->rms = rms;
    stats->kurtosis = kurtosis;
    stats->crest = crest;
  }
}
