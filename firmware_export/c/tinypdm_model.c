/**
 * @file tinypdm_model.c
 * @brief The exported model on the int8 engine, with static scratch.
 */
#include "tinypdm_model.h"

#include "model_data.h"

static int8_t s_scratch[TINYPDM_NN_SCRATCH_BYTES];

void tinypdm_model_invoke(const int8_t *input, int8_t *output) {
  tinypdm_nn_invoke(tinypdm_model_layers, TINYPDM_N_LAYERS, input, output, s_scratch,
                    TINYPDM_NN_MAX_HIDDEN);
}
