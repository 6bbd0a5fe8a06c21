/**
 * @file tinypdm_speed.c
 * @brief Decimator, ring and harmonic-comb speed estimate (see tinypdm_speed.h).
 *
 * Float32 throughout, only IEEE basic operations and tinypdm_log10f, in the order
 * vibration.learning.speed writes them: the decimated samples are bit-identical to the
 * reference; the estimate differs only through the FFT's rounding (numpy's float64 there).
 */
#include "tinypdm_speed.h"

#include <math.h>
#include <string.h>

#include "model_data.h"
#include "tinypdm_features.h"
#include "tinypdm_math.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if TINYPDM_SPEED_ENABLED
#if TINYPDM_SPEED_BUFFER > TINYPDM_WINDOW
#error "TINYPDM_SPEED_BUFFER must not exceed TINYPDM_WINDOW (the FFT runs in the work buffer)"
#endif
#if TINYPDM_SPEED_MAX_BIN + 2 >= TINYPDM_SPEED_BUFFER / 2 || \
    TINYPDM_SPEED_N_CAND > TINYPDM_SPEED_BUFFER / 2
#error "speed comb does not fit below the buffer's Nyquist bin"
#endif
#endif

#define SPEED_HALF (TINYPDM_SPEED_BUFFER / 2)
#define LOG_FLOOR 1e-30f

void tinypdm_speed_init(tinypdm_speed_t *s) {
  uint32_t i;
  memset(s, 0, sizeof(*s));
  for (i = 0; i < TINYPDM_SPEED_MEDIAN; ++i) {
    s->history[i] = NAN;
  }
  s->external = NAN;
  s->rpm = NAN;
  s->until_estimate = TINYPDM_SPEED_BUFFER;
}

#if TINYPDM_SPEED_ENABLED
/* Stage 2 (windowed sinc, TAPS_PER_PHASE branches) and the ring; 1: an estimate is due. */
static int stage2(tinypdm_speed_t *s, float x) {
  const float *g = &tinypdm_speed_taps[s->phase * TINYPDM_SPEED_TAPS_PER_PHASE];
  uint32_t r;
  for (r = 0; r < TINYPDM_SPEED_TAPS_PER_PHASE; ++r) {
    s->acc[r] += g[r] * x;
  }
  if (++s->phase < TINYPDM_SPEED_Q2) {
    return 0;
  }
  s->phase = 0;
  s->ring[s->head] = s->acc[0];
  s->head = s->head + 1u == TINYPDM_SPEED_BUFFER ? 0u : s->head + 1u;
  for (r = 0; r + 1u < TINYPDM_SPEED_TAPS_PER_PHASE; ++r) {
    s->acc[r] = s->acc[r + 1u];
  }
  s->acc[TINYPDM_SPEED_TAPS_PER_PHASE - 1] = 0.0f;
  if (s->filled < TINYPDM_SPEED_BUFFER) {
    s->filled++;
  }
  if (--s->until_estimate == 0u) {
    s->until_estimate = TINYPDM_SPEED_HOP;
    s->due = 1u;
    return 1;
  }
  return 0;
}
#endif

int tinypdm_speed_push(tinypdm_speed_t *s, float x) {
#if TINYPDM_SPEED_ENABLED
#if TINYPDM_SPEED_R > 1
  /* stage 1: triangle, two polyphase branches */
  const float *g = &tinypdm_speed_taps1[2u * s->phase1];
  s->acc1[0] += g[0] * x;
  s->acc1[1] += g[1] * x;
  if (++s->phase1 < TINYPDM_SPEED_R) {
    return 0;
  }
  s->phase1 = 0;
  x = s->acc1[0];
  s->acc1[0] = s->acc1[1];
  s->acc1[1] = 0.0f;
#endif
  return stage2(s, x);
#else
  (void)s;
  (void)x;
  return 0;
#endif
}

void tinypdm_speed_push_int16(tinypdm_speed_t *s, const int16_t *x, uint32_t n, uint32_t stride,
                              float scale, float *work) {
#if TINYPDM_SPEED_ENABLED
  uint32_t i;
#if TINYPDM_SPEED_R > 1
  /* tinypdm_speed_push's stage 1 with its state in registers */
  float a0 = s->acc1[0];
  float a1 = s->acc1[1];
  uint32_t ph = s->phase1;
  for (i = 0; i < n; ++i) {
    const float v = (float)x[(size_t)i * stride] * scale;
    const float *g = &tinypdm_speed_taps1[2u * ph];
    a0 += g[0] * v;
    a1 += g[1] * v;
    if (++ph == TINYPDM_SPEED_R) {
      const float y = a0;
      ph = 0;
      a0 = a1;
      a1 = 0.0f;
      if (stage2(s, y)) {
        tinypdm_speed_update(s, work);
      }
    }
  }
  s->acc1[0] = a0;
  s->acc1[1] = a1;
  s->phase1 = ph;
#else
  for (i = 0; i < n; ++i) {
    if (stage2(s, (float)x[(size_t)i * stride] * scale)) {
      tinypdm_speed_update(s, work);
    }
  }
#endif
#else
  (void)s;
  (void)x;
  (void)n;
  (void)stride;
  (void)scale;
  (void)work;
#endif
}

#if TINYPDM_SPEED_ENABLED
/* Sum over the candidate's harmonics h (h mod d != 0; d == 1: all) of
 * L[round(h a / H)] - L[round((h - 1/2) a / H)], in harmonic order. */
static float comb(const float *logp, uint32_t a, uint32_t d, float *count) {
  const uint32_t two_h = 2u * TINYPDM_SPEED_HARMONICS;
  float on = 0.0f;
  float off = 0.0f;
  float total = 0.0f;
  float n = 0.0f;
  uint32_t h;
  for (h = 1; h <= TINYPDM_SPEED_HARMONICS; ++h) {
    const uint32_t b_on = (2u * h * a + TINYPDM_SPEED_HARMONICS) / two_h;
    const uint32_t b_off = ((2u * h - 1u) * a + TINYPDM_SPEED_HARMONICS) / two_h;
    if (d == 1u) {
      on = on + logp[b_on];
      off = off + logp[b_off];
    } else if (h % d != 0u) {
      total = total + (logp[b_on] - logp[b_off]);
      n = n + 1.0f;
    }
  }
  if (count != 0) {
    *count = n;
  }
  return d == 1u ? on - off : total;
}

/* The candidate's harmonics that are not multiples of d stand out as lines. */
static int own_lines(const float *logp, uint32_t a, uint32_t d) {
  float n;
  const float total = comb(logp, a, d, &n);
  return total >= n * TINYPDM_SPEED_LINE_DECADES;
}

static int32_t round_bin(float x) { return (int32_t)floorf(x + 0.5f); }

/* One pass: least-squares fundamental (bins) from the parabola-interpolated peaks of the
 * harmonics that stand LINE_DECADES above their half-way bin; NaN when none does. */
static float refine_pass(const float *logp, float f0) {
  float num = 0.0f;
  float den = 0.0f;
  uint32_t h;
  for (h = 1; h <= TINYPDM_SPEED_HARMONICS; ++h) {
    const int32_t b = round_bin((float)h * f0);
    const int32_t off = round_bin(((float)h - 0.5f) * f0);
    int32_t best;
    float left;
    float mid;
    float right;
    float curv;
    float shift = 0.0f;
    if (b < 2 || b + 1 > (int32_t)TINYPDM_SPEED_MAX_BIN + 1 || off < 0) {
      continue;
    }
    best = b - 1;
    if (logp[b] > logp[best]) {
      best = b;
    }
    if (logp[b + 1] > logp[best]) {
      best = b + 1;
    }
    if (!(logp[best] - logp[off] >= TINYPDM_SPEED_LINE_DECADES)) {
      continue;
    }
    left = logp[best - 1];
    mid = logp[best];
    right = logp[best + 1];
    curv = (left - 2.0f * mid) + right;
    if (curv < 0.0f) {
      shift = 0.5f * (left - right) / curv;
      shift = shift < -1.0f ? -1.0f : (shift > 1.0f ? 1.0f : shift);
    }
    num = num + (float)h * ((float)best + shift);
    den = den + (float)(h * h);
  }
  return den == 0.0f ? NAN : num / den;
}

/* Two passes, from candidate a (f0 = a / H bins), then from the first result; rpm. */
static float refine(const float *logp, uint32_t a) {
  float f0 = (float)a / (float)TINYPDM_SPEED_HARMONICS;
  float result = NAN;
  int pass;
  for (pass = 0; pass < 2; ++pass) {
    const float f1 = refine_pass(logp, f0);
    if (f1 != f1) {
      break;
    }
    f0 = f1;
    result = f0 * TINYPDM_SPEED_RPM_PER_BIN;
  }
  return result;
}

/* First index of the largest S in [lo, hi]. */
static uint32_t local_max(const float *S, uint32_t lo, uint32_t hi) {
  uint32_t best = lo;
  uint32_t i;
  for (i = lo + 1u; i <= hi; ++i) {
    if (S[i] > S[best]) {
      best = i;
    }
  }
  return best;
}
#endif

float tinypdm_speed_estimate(float *work) {
#if TINYPDM_SPEED_ENABLED
  const uint32_t tw = (uint32_t)TINYPDM_WINDOW / TINYPDM_SPEED_BUFFER;
  const uint32_t first = TINYPDM_SPEED_CAND_FIRST;
  const uint32_t n_cand = TINYPDM_SPEED_N_CAND;
  float *const S = work + SPEED_HALF;
  float sum = 0.0f;
  float mean;
  float delta = 0.0f;
  uint32_t i;
  uint32_t k;
  uint32_t a;
  uint32_t d;

  /* mean (sequential float32 sum, oldest first), then Hann from the twiddle table */
  for (i = 0; i < TINYPDM_SPEED_BUFFER; ++i) {
    sum = sum + work[i];
  }
  mean = sum * (1.0f / (float)TINYPDM_SPEED_BUFFER);
  for (i = 0; i < SPEED_HALF; ++i) {
    const float c = tinypdm_fft_cos[i * tw];
    const float d0 = work[i] - mean;
    const float d1 = work[i + SPEED_HALF] - mean;
    work[i] = d0 * (0.5f + -0.5f * c);
    work[i + SPEED_HALF] = d1 * (0.5f + 0.5f * c);
  }
  tinypdm_rfft_n(work, TINYPDM_SPEED_LOG2_BUFFER);

  /* log power of bins 0..MAX_BIN + 2, in place (bin k's values sit at 2k, 2k+1 >= k) */
  work[0] = tinypdm_log10f(work[0] * work[0] + LOG_FLOOR);
  for (k = 1; k <= TINYPDM_SPEED_MAX_BIN + 2u; ++k) {
    const float re = work[2u * k];
    const float im = work[2u * k + 1u];
    work[k] = tinypdm_log10f((re * re + im * im) + LOG_FLOOR);
  }

  /* contrast of every candidate a = first + i (units of 1/H bin) */
  k = 0;
  for (i = 0; i < n_cand; ++i) {
    S[i] = comb(work, first + i, 1u, 0);
    if (S[i] > S[k]) {
      k = i;
    }
  }
  if (!(S[k] > 0.0f)) {
    return NAN;
  }
  /* the winner's odd harmonics are empty: it is half the true speed */
  a = first + k;
  if (2u * a < first + n_cand && !own_lines(work, a, 2u)) {
    const uint32_t c = 2u * a - first;
    const uint32_t kl = local_max(S, c >= 2u ? c - 2u : 0u, c + 2u < n_cand ? c + 2u : n_cand - 1u);
    if (own_lines(work, first + kl, 2u)) {
      k = kl;
    }
  }
  /* sub-harmonic preference: f0/3, then f0/2 */
  for (d = 3; d >= 2u; --d) {
    const uint32_t ad = (2u * (first + k) + d) / (2u * d);
    if (ad >= first && S[ad - first] >= TINYPDM_SPEED_SUBHARMONIC_RATIO * S[k]) {
      const uint32_t c = ad - first;
      const uint32_t kl =
          local_max(S, c >= 2u ? c - 2u : 0u, c + 2u < n_cand ? c + 2u : n_cand - 1u);
      if (own_lines(work, first + kl, d)) {
        k = kl;
      }
    }
  }
  {
    const float refined = refine(work, first + k);
    if (refined == refined) {
      return refined;
    }
  }
  /* no harmonic stands out: parabola through the contrast's neighbours */
  if (k > 0u && k + 1u < n_cand) {
    const float sa = S[k - 1u];
    const float sb = S[k];
    const float sc = S[k + 1u];
    const float den = (sa - 2.0f * sb) + sc;
    if (den < 0.0f) {
      delta = 0.5f * (sa - sc) / den;
      delta = delta < -1.0f ? -1.0f : (delta > 1.0f ? 1.0f : delta);
    }
  }
  return ((float)(first + k) + delta) * TINYPDM_SPEED_RPM_PER_STEP;
#else
  (void)work;
  return NAN;
#endif
}

/* Median of the finite entries (mean of the middle two for an even count). */
static float median_finite(const float *v, uint32_t n) {
  float sorted[TINYPDM_SPEED_MEDIAN];
  uint32_t m = 0;
  uint32_t i;
  for (i = 0; i < n; ++i) {
    const float x = v[i];
    uint32_t j;
    if (x != x) {
      continue;
    }
    j = m++;
    while (j > 0u && sorted[j - 1u] > x) {
      sorted[j] = sorted[j - 1u];
      --j;
    }
    sorted[j] = x;
  }
  if (m == 0u) {
    return NAN;
  }
  if ((m & 1u) != 0u) {
    return sorted[m / 2u];
  }
  return (sorted[m / 2u - 1u] + sorted[m / 2u]) * 0.5f;
}

void tinypdm_speed_update(tinypdm_speed_t *s, float *work) {
  uint32_t i;
  uint32_t src;
  if (!s->due || !TINYPDM_SPEED_ENABLED) {
    return;
  }
  s->due = 0u;
  src = s->head; /* oldest */
  for (i = 0; i < TINYPDM_SPEED_BUFFER; ++i) {
    work[i] = s->ring[src];
    src = src + 1u == TINYPDM_SPEED_BUFFER ? 0u : src + 1u;
  }
  s->history[s->n_estimates % TINYPDM_SPEED_MEDIAN] = tinypdm_speed_estimate(work);
  s->n_estimates++;
  s->rpm = median_finite(s->history, TINYPDM_SPEED_MEDIAN);
}

float tinypdm_speed_rpm(const tinypdm_speed_t *s) {
  return s->external == s->external ? s->external : s->rpm;
}

void tinypdm_speed_set_external(tinypdm_speed_t *s, float rpm) {
  s->external = rpm > 0.0f ? rpm : NAN; /* NaN > 0 is false */
}
