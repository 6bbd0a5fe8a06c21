/**
 * @file tinypdm_model.h
 * @brief The exported model: int8 inference on the generated layer table.
 *
 * Sizes come from the generated tinypdm_model_config.h; the layer table and weights
 * from the generated model_data.c. One static scratch buffer, so one model per image
 * and no concurrent calls (the pipeline calls it from one context).
 */
#ifndef TINYPDM_MODEL_H
#define TINYPDM_MODEL_H

#include <stdint.h>

#include "tinypdm_model_config.h"
#include "tinypdm_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Run the int8 model once.
 * @param input  [TINYPDM_N_INPUTS] int8, quantised with TINYPDM_INPUT_SCALE/ZERO_POINT
 * @param output [TINYPDM_N_OUTPUTS] int8, dequantise with TINYPDM_OUTPUT_SCALE/ZERO_POINT
 */
void tinypdm_model_invoke(const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_MODEL_H */
