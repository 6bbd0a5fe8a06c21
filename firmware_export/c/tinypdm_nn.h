/**
 * @file tinypdm_nn.h
 * @brief int8 FULLY_CONNECTED engine, bit-exact with the TFLM reference kernels.
 *
 * Arithmetic of tflite-micro's reference_integer_ops::FullyConnected (per tensor) and
 * FullyConnectedPerChannel, with the default double-rounding MultiplyByQuantizedMultiplier
 * (gemmlowp SaturatingRoundingDoublingHighMul then RoundingDivideByPOT), which is what the
 * `tflite-micro` pip package is built with. Define TINYPDM_SINGLE_ROUNDING=1 to get
 * TFLM's TFLITE_SINGLE_ROUNDING variant instead (tests show it differs by one step).
 *
 * The engine knows nothing of a particular model: layers are described by
 * tinypdm_dense_t tables, which `tinypdm export` generates into model_data.c.
 * No dynamic allocation; the caller passes the scratch buffers.
 */
#ifndef TINYPDM_NN_H
#define TINYPDM_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Place a constant array on a 16-byte boundary.
 *
 * C99 has no alignas: GCC/Clang/armcc use __attribute__((aligned(16))), MSVC
 * __declspec(align(16)), a C11 compiler _Alignas(16). Other compilers get no alignment
 * (the engine reads bytes, so it stays correct, only SIMD ports would care).
 */
#if defined(__GNUC__) || defined(__clang__) || defined(__ARMCC_VERSION)
#define TINYPDM_ALIGN16 __attribute__((aligned(16)))
#elif defined(_MSC_VER)
#define TINYPDM_ALIGN16 __declspec(align(16))
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define TINYPDM_ALIGN16 _Alignas(16)
#else
#define TINYPDM_ALIGN16
#endif

/** @brief TFLM fused activations that map to an output clamp. */
enum {
  TINYPDM_ACT_NONE = 0,
  TINYPDM_ACT_RELU = 1,
  TINYPDM_ACT_RELU_N1_TO_1 = 2,
  TINYPDM_ACT_RELU6 = 3
};

/** @brief One int8 FULLY_CONNECTED layer: out = clamp(requant(W (in + in_off) + b) + out_off). */
typedef struct {
  uint16_t n_in;              /**< input features (accum depth) */
  uint16_t n_out;             /**< output features */
  uint16_t n_quant;           /**< 1: per-tensor, n_out: per-channel multipliers */
  uint8_t activation;         /**< TINYPDM_ACT_* (informational: act_min/act_max apply it) */
  uint8_t reserved;           /**< 0 */
  const int8_t *weights;      /**< [n_out][n_in], row major (TFLite filter layout) */
  const int32_t *bias;        /**< [n_out], or NULL when the model has no bias */
  const int32_t *multiplier;  /**< [n_quant] Q0.31 fixed-point multipliers */
  const int32_t *shift;       /**< [n_quant] exponents, > 0 shifts left */
  int32_t input_offset;       /**< minus the input zero point */
  int32_t weights_offset;     /**< minus the weights zero point (per-tensor only; 0) */
  int32_t output_offset;      /**< the output zero point */
  int32_t act_min;            /**< lower clamp, quantised */
  int32_t act_max;            /**< upper clamp, quantised */
} tinypdm_dense_t;

/**
 * @brief TFLM MultiplyByQuantizedMultiplier(x, multiplier, shift) for int32 x.
 * @return x * multiplier * 2^(shift - 31), rounded exactly as TFLM rounds.
 */
int32_t tinypdm_mul_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);

/**
 * @brief One FULLY_CONNECTED layer, batch 1.
 * @param layer  layer description
 * @param input  [layer->n_in] int8
 * @param output [layer->n_out] int8 (must not overlap input)
 */
void tinypdm_dense_int8(const tinypdm_dense_t *layer, const int8_t *input, int8_t *output);

/**
 * @brief Run a chain of layers, batch 1.
 * @param layers   n_layers layer descriptions; layer i+1 consumes layer i's output
 * @param n_layers >= 1
 * @param input    [layers[0].n_in] int8
 * @param output   [layers[n_layers-1].n_out] int8
 * @param scratch  2 * stride bytes for the hidden activations (ping-pong)
 * @param stride   >= the widest hidden layer (TINYPDM_NN_MAX_HIDDEN in the generated header)
 */
void tinypdm_nn_invoke(const tinypdm_dense_t *layers, uint32_t n_layers, const int8_t *input,
                       int8_t *output, int8_t *scratch, uint32_t stride);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_NN_H */
