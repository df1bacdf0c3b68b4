/* qiml_main.c: reads samples of QIML_N_INPUTS int8 bytes from standard input until
   end of file and writes each one's class as one byte (-DQIML_DRIVER_LOGITS: its logits, int32 little-endian). */
#include <unistd.h>
#include "qiml_model.h"

int main(void)
{
    static int8_t x[QIML_N_INPUTS];
    static unsigned char out[4 * QIML_N_OUTPUTS];
    uint16_t got;
    int n;
#ifdef QIML_DRIVER_LOGITS
    static int32_t logits[QIML_N_OUTPUTS];
    uint16_t j;
    uint8_t k;
#endif
    for (;;) {
        for (got = 0; got < QIML_N_INPUTS; got += (uint16_t)n) {
            n = (int)read(0, (char *)x + got, QIML_N_INPUTS - got);
            if (n <= 0) {
                return got == 0 ? 0 : 2;    /* 2: a partial sample at the end */
            }
        }
#ifdef QIML_DRIVER_LOGITS
        qiml_logits(x, logits);
        for (j = 0; j < QIML_N_OUTPUTS; ++j) {
            for (k = 0; k < 4; ++k) {
                out[4 * j + k] = (unsigned char)(((uint32_t)logits[j] >> (8 * k)) & 0xFF);
            }
        }
        if (write(1, out, 4 * QIML_N_OUTPUTS) != 4 * QIML_N_OUTPUTS) {
            return 3;
        }
#else
        out[0] = (unsigned char)qiml_predict(x);
        if (write(1, out, 1) != 1) {
            return 3;
        }
#endif
    }
}
