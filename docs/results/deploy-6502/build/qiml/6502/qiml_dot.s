; qiml_dot.s: the hot loop of qiml's 6502 programs, for ca65 (cc65).
;
;   int32_t __fastcall__ qiml_dot(const int8_t *a, const int8_t *w, uint16_t n);
;
; returns sum over i < n of a[i] * w[i] (signed bytes), exactly what the C version in the generated
; model source computes. Each product comes from quarter squares, with no multiply loop:
;
;   a * b = f(a + b) - f(a - b),   f(x) = floor(x^2 / 4)
;
; (exact: a + b and a - b have the same parity, so the two floors drop the same quarter). With
; a' = a + 128 and b' = b + 128 (EOR #$80), the 9-bit sum a' + b' = (a + b) + 256 and the difference
; a' - b' = a - b leave a low byte v and a carry C, and in both cases f(x) = F[v] when C = 1 and
; G[v] when C = 0, with F[v] = f(v) and G[v] = f(256 - v): two 16-bit tables of 256 entries (1 KiB).
; The f(a + b) terms are summed into PLUS and the f(a - b) terms into MINUS, both unsigned 32-bit
; (no sign extension per product), and the result is PLUS - MINUS. n may be any 16-bit count.
; About 100 cycles per product, against about 800 for the C loop compiled by cc65; a zero a[i] is
; skipped in 17 (exact: its product is 0), and three quarters of an MNIST digit's pixels are 0.

        .export     _qiml_dot
        .import     popax
        .importzp   ptr1, ptr2, sreg

        .segment    "ZEROPAGE"
ta:     .res    1               ; a' of the current pair
tb:     .res    1               ; b'
count:  .res    2               ; n
plus:   .res    4               ; sum of f(a + b)
minus:  .res    4               ; sum of f(a - b)

        .segment    "RODATA"
flo:    .repeat 256, i
        .byte   <((i * i) / 4)
        .endrep
fhi:    .repeat 256, i
        .byte   >((i * i) / 4)
        .endrep
glo:    .repeat 256, i
        .byte   <(((256 - i) * (256 - i)) / 4)
        .endrep
ghi:    .repeat 256, i
        .byte   >(((256 - i) * (256 - i)) / 4)
        .endrep

        .segment    "CODE"
_qiml_dot:
        sta     count           ; n arrives in A/X (fastcall), w and a on the C stack
        stx     count+1
        jsr     popax
        sta     ptr2
        stx     ptr2+1
        jsr     popax
        sta     ptr1
        stx     ptr1+1
        lda     #0
        ldx     #7
clear:  sta     plus,x          ; plus and minus are adjacent
        dex
        bpl     clear
        ldy     #0
        lda     count
        ora     count+1
        bne     loop
        jmp     done

loop:   lda     (ptr1),y
        bne     pair
        iny                     ; a = 0: its product is 0 (most MNIST pixels are): next pair, in 17 cycles
        beq     wrap
check:  cpy     count
        bne     loop
        lda     count+1         ; Y = n mod 256: done unless whole pages remain
        bne     loop
        jmp     done
wrap:   inc     ptr1+1          ; Y wrapped: the next 256 pairs
        inc     ptr2+1
        dec     count+1
        jmp     check

pair:   eor     #$80
        sta     ta
        lda     (ptr2),y
        eor     #$80
        sta     tb
        clc
        adc     ta              ; v = low byte of a' + b', C = its bit 8
        tax
        bcc     sum_g
        clc                     ; C = 1: PLUS += F[v]
        lda     plus
        adc     flo,x
        sta     plus
        lda     plus+1
        adc     fhi,x
        sta     plus+1
        bcc     diff
        inc     plus+2
        bne     diff
        inc     plus+3
        jmp     diff
sum_g:  lda     plus            ; C = 0 already: PLUS += G[v]
        adc     glo,x
        sta     plus
        lda     plus+1
        adc     ghi,x
        sta     plus+1
        bcc     diff
        inc     plus+2
        bne     diff
        inc     plus+3

diff:   lda     ta
        sec
        sbc     tb              ; v = low byte of a' - b', C = 1 when a - b >= 0
        tax
        bcc     diff_g
        clc                     ; MINUS += F[v]
        lda     minus
        adc     flo,x
        sta     minus
        lda     minus+1
        adc     fhi,x
        sta     minus+1
        bcc     next
        inc     minus+2
        bne     next
        inc     minus+3
        jmp     next
diff_g: lda     minus           ; C = 0 already: MINUS += G[v]
        adc     glo,x
        sta     minus
        lda     minus+1
        adc     ghi,x
        sta     minus+1
        bcc     next
        inc     minus+2
        bne     next
        inc     minus+3

next:   iny
        beq     page
        jmp     check
page:   jmp     wrap

done:   sec                     ; PLUS - MINUS, returned in A (bits 0-7), X, sreg, sreg+1
        lda     plus
        sbc     minus
        sta     ta
        lda     plus+1
        sbc     minus+1
        sta     tb
        lda     plus+2
        sbc     minus+2
        sta     sreg
        lda     plus+3
        sbc     minus+3
        sta     sreg+1
        lda     ta
        ldx     tb
        rts
