/* qiml_atari.c: digits from H1:DIGITS.BIN, classes to H1:CLASSES.BIN and the screen, the jiffies spent
   in qiml_predict to H1:TIME.BIN (3 bytes, little endian). */
#include <stdio.h>
#include "qiml_model.h"

#define RTCLOK ((volatile unsigned char *)0x12)   /* the OS's frame counter, high byte first */

static unsigned long jiffies(void)
{
    unsigned char a, b, c;
    do {
        a = RTCLOK[2];
        b = RTCLOK[1];
        c = RTCLOK[0];
    } while (a != RTCLOK[2]);                       /* read again if a frame ticked in between */
    return ((unsigned long)c << 16) | ((unsigned)b << 8) | a;
}

int main(void)
{
    static int8_t x[QIML_N_INPUTS];
    static unsigned char t[3];
    FILE *in = fopen("H1:DIGITS.BIN", "rb");
    FILE *out = fopen("H1:CLASSES.BIN", "wb");
    FILE *tf;
    unsigned long spent = 0, t0;
    unsigned n = 0;
    int c;
    if (in == NULL || out == NULL) {
        puts("cannot open H1:DIGITS.BIN or H1:CLASSES.BIN");
        return 1;
    }
    while (fread(x, 1, QIML_N_INPUTS, in) == QIML_N_INPUTS) {
        t0 = jiffies();
        c = qiml_predict(x);
        spent += jiffies() - t0;
        fputc(c, out);
        printf("digit %u: class %d\n", n++, c);
    }
    fclose(out);
    fclose(in);
    t[0] = (unsigned char)(spent & 0xFF);
    t[1] = (unsigned char)((spent >> 8) & 0xFF);
    t[2] = (unsigned char)((spent >> 16) & 0xFF);
    tf = fopen("H1:TIME.BIN", "wb");
    if (tf != NULL) {
        fwrite(t, 1, 3, tf);
        fclose(tf);
    }
    printf("%u digits, %lu jiffies\n", n, spent);
    return 0;
}
