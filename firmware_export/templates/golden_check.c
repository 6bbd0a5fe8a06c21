/* @GENERATED@ */
/**
 * @file golden_check.c
 * @brief Self-test of a bundle on any C99 target: runs the golden windows through the
 *        library and compares with the values the exporter computed.
 *
 * Build on a host:  cc -std=c99 -O2 -Isrc test/golden_check.c src/[a-z]*.c -lm && ./a.out
 * On an MCU, call tinypdm_golden_check() and look at its return value.
 *
 * The int8 engine must reproduce the golden model outputs exactly. Features are float32
 * with the library's own log10 (tinypdm_log10f) and IEEE sqrtf, so a C99 build without
 * fused multiply-add (-ffp-contract=off) matches the exporter's host bit for bit; a build
 * that fuses (Arduino's -std=gnu11 on an FPU) may move a model input by one step, so one
 * step and a score within 1e-3 are accepted.
 * @return the number of failed checks (0: pass)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tinypdm_features.h"
#include "tinypdm_golden.h"
#include "tinypdm_model.h"
#include "tinypdm_pipeline.h"
#include "tinypdm_score.h"

int tinypdm_golden_check(void);

int tinypdm_golden_check(void) {
  static float window[TINYPDM_WINDOW];
  float features[TINYPDM_N_FEATURES];
  int8_t q_out[TINYPDM_N_FEATURES];
  tinypdm_score_trace_t trace;
  int failures = 0;
  uint32_t g;
  for (g = 0; g < TINYPDM_GOLDEN_N; ++g) {
    uint32_t i;
    float score;
    float rel;
    /* 1. the int8 engine on the golden inputs: exact */
    tinypdm_model_invoke(tinypdm_golden_q_in[g], q_out);
    if (memcmp(q_out, tinypdm_golden_q_out[g], sizeof(q_out)) != 0) {
      printf("golden %u: model output differs\n", (unsigned)g);
      failures++;
    }
    /* 2. features and score from the raw window: within float32 and libm rounding */
    for (i = 0; i < TINYPDM_WINDOW; ++i) {
      window[i] = (float)tinypdm_golden_windows[g][i] * TINYPDM_SAMPLE_SCALE;
    }
    tinypdm_features_compute(window, features, NULL);
    score = tinypdm_score_features(features, &trace);
    for (i = 0; i < TINYPDM_N_FEATURES; ++i) {
      int d = (int)trace.q_in[i] - (int)tinypdm_golden_q_in[g][i];
      if (d > 1 || d < -1) {
        printf("golden %u: model input %u is %d, expected %d\n", (unsigned)g, (unsigned)i,
               (int)trace.q_in[i], (int)tinypdm_golden_q_in[g][i]);
        failures++;
      }
    }
    rel = fabsf(score - tinypdm_golden_scores[g]) /
          (fabsf(tinypdm_golden_scores[g]) > 1e-12f ? fabsf(tinypdm_golden_scores[g]) : 1.0f);
    if (!(rel <= 1e-3f)) {
      printf("golden %u: score %.9g, expected %.9g\n", (unsigned)g, (double)score,
             (double)tinypdm_golden_scores[g]);
      failures++;
    }
  }
  return failures;
}

#ifndef TINYPDM_GOLDEN_NO_MAIN
int main(void) {
  const int failures = tinypdm_golden_check();
  printf("tinypdm golden check: %d windows, %d failures\n", (int)TINYPDM_GOLDEN_N, failures);
  return failures == 0 ? 0 : 1;
}
#endif
