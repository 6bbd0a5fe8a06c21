/**
 * @file tinypdm_nn.c
 * @brief int8 FULLY_CONNECTED, arithmetic of the TFLM reference kernels.
 */
#include "tinypdm_nn.h"

#include <stddef.h>

#ifndef TINYPDM_SINGLE_ROUNDING
#define TINYPDM_SINGLE_ROUNDING 0
#endif

/* Arithmetic shift right that does not rely on the implementation-defined >> of a
 * negative value: rounds towards minus infinity like an arithmetic shift. */
static int64_t asr64(int64_t x, int n) {
  return x >= 0 ? (int64_t)((uint64_t)x >> n) : -(int64_t)(((uint64_t)(-(x + 1)) >> n) + 1u);
}

#if !TINYPDM_SINGLE_ROUNDING
static int32_t asr32(int32_t x, int n) { return (int32_t)asr64((int64_t)x, n); }

/* gemmlowp SaturatingRoundingDoublingHighMul: (a * b * 2 + 2^31) / 2^32, rounding half
 * away from zero, saturating the one overflow case (INT32_MIN * INT32_MIN). */
static int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  int64_t ab;
  int64_t nudged;
  int64_t q;
  if (a == b && a == INT32_MIN) {
    return INT32_MAX;
  }
  ab = (int64_t)a * (int64_t)b;
  nudged = ab + (ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30)));
  /* C division truncates towards zero; avoid a 64-bit division call on small cores. */
  q = nudged >= 0 ? (int64_t)((uint64_t)nudged >> 31) : -(int64_t)((uint64_t)(-nudged) >> 31);
  return (int32_t)q;
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero. */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return asr32(x, exponent) + (remainder > threshold ? 1 : 0);
}
#endif

int32_t tinypdm_mul_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
#if TINYPDM_SINGLE_ROUNDING
  const int total_shift = 31 - (int)shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  return (int32_t)asr64((int64_t)x * (int64_t)multiplier + round, total_shift);
#else
  const int left_shift = shift > 0 ? (int)shift : 0;
  const int right_shift = shift > 0 ? 0 : (int)-shift;
  /* x * 2^left_shift wraps like TFLM's int32 product on two's complement targets. */
  const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return rounding_divide_by_pot(sat_rounding_doubling_high_mul(shifted, multiplier), right_shift);
#endif
}

void tinypdm_dense_int8(const tinypdm_dense_t *layer, const int8_t *input, int8_t *output) {
  const uint32_t n_in = layer->n_in;
  const uint32_t n_out = layer->n_out;
  const int per_channel = layer->n_quant > 1u;
  const int32_t weights_offset = per_channel ? 0 : layer->weights_offset;
  uint32_t o;
  for (o = 0; o < n_out; ++o) {
    const int8_t *row = layer->weights + (size_t)o * n_in;
    const uint32_t q = per_channel ? o : 0u;
    int32_t acc = 0;
    int32_t out;
    uint32_t i;
    for (i = 0; i < n_in; ++i) {
      acc += ((int32_t)row[i] + weights_offset) * ((int32_t)input[i] + layer->input_offset);
    }
    if (layer->bias != NULL) {
      acc += layer->bias[o];
    }
    out = tinypdm_mul_by_quantized_multiplier(acc, layer->multiplier[q], layer->shift[q]);
    out += layer->output_offset;
    if (out < layer->act_min) {
      out = layer->act_min;
    }
    if (out > layer->act_max) {
      out = layer->act_max;
    }
    output[o] = (int8_t)out;
  }
}

void tinypdm_nn_invoke(const tinypdm_dense_t *layers, uint32_t n_layers, const int8_t *input,
                       int8_t *output, int8_t *scratch, uint32_t stride) {
  const int8_t *src = input;
  uint32_t l;
  for (l = 0; l < n_layers; ++l) {
    int8_t *dst = (l + 1u == n_layers) ? output : scratch + (size_t)(l % 2u) * stride;
    tinypdm_dense_int8(&layers[l], src, dst);
    src = dst;
  }
}
