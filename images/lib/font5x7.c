/*
 * The graphics library's 5x7 font, ASCII 32 (space) to 126 ('~'), drawn
 * for Ensemble: each glyph is 7 rows, top first, written as pictures of
 * the row ('X' = pixel set, 'o' = clear; bit 4 is the leftmost column).
 * Glyphs leave the 6th column and 8th row of their cell empty; descenders
 * (g, j, p, q, y) are tucked into the 7 rows.
 */
#include <stdint.h>

#include "board.h"

#if BOARD_HAS_DISPLAY

#include "gfx.h"

/* The 32 possible rows, named after their pixels. */
#define ooooo 0x00
#define ooooX 0x01
#define oooXo 0x02
#define oooXX 0x03
#define ooXoo 0x04
#define ooXoX 0x05
#define ooXXo 0x06
#define ooXXX 0x07
#define oXooo 0x08
#define oXooX 0x09
#define oXoXo 0x0A
#define oXoXX 0x0B
#define oXXoo 0x0C
#define oXXoX 0x0D
#define oXXXo 0x0E
#define oXXXX 0x0F
#define Xoooo 0x10
#define XoooX 0x11
#define XooXo 0x12
#define XooXX 0x13
#define XoXoo 0x14
#define XoXoX 0x15
#define XoXXo 0x16
#define XoXXX 0x17
#define XXooo 0x18
#define XXooX 0x19
#define XXoXo 0x1A
#define XXoXX 0x1B
#define XXXoo 0x1C
#define XXXoX 0x1D
#define XXXXo 0x1E
#define XXXXX 0x1F

const uint8_t gfx_font5x7[95][7] = {
    /* ' '   */ {ooooo, ooooo, ooooo, ooooo, ooooo, ooooo, ooooo},
    /* '!'   */ {ooXoo, ooXoo, ooXoo, ooXoo, ooXoo, ooooo, ooXoo},
    /* '"'   */ {oXoXo, oXoXo, oXoXo, ooooo, ooooo, ooooo, ooooo},
    /* '#'   */ {oXoXo, oXoXo, XXXXX, oXoXo, XXXXX, oXoXo, oXoXo},
    /* '$'   */ {ooXoo, oXXXX, XoXoo, oXXXo, ooXoX, XXXXo, ooXoo},
    /* '%'   */ {XXooo, XXooX, oooXo, ooXoo, oXooo, XooXX, oooXX},
    /* '&'   */ {oXXoo, XooXo, XoXoo, oXooo, XoXoX, XooXo, oXXoX},
    /* '\''  */ {ooXoo, ooXoo, oXooo, ooooo, ooooo, ooooo, ooooo},
    /* '('   */ {oooXo, ooXoo, oXooo, oXooo, oXooo, ooXoo, oooXo},
    /* ')'   */ {oXooo, ooXoo, oooXo, oooXo, oooXo, ooXoo, oXooo},
    /* '*'   */ {ooooo, ooXoo, XoXoX, oXXXo, XoXoX, ooXoo, ooooo},
    /* '+'   */ {ooooo, ooXoo, ooXoo, XXXXX, ooXoo, ooXoo, ooooo},
    /* ','   */ {ooooo, ooooo, ooooo, ooooo, oXXoo, ooXoo, oXooo},
    /* '-'   */ {ooooo, ooooo, ooooo, XXXXX, ooooo, ooooo, ooooo},
    /* '.'   */ {ooooo, ooooo, ooooo, ooooo, ooooo, oXXoo, oXXoo},
    /* '/'   */ {ooooo, ooooX, oooXo, ooXoo, oXooo, Xoooo, ooooo},
    /* '0'   */ {oXXXo, XoooX, XooXX, XoXoX, XXooX, XoooX, oXXXo},
    /* '1'   */ {ooXoo, oXXoo, ooXoo, ooXoo, ooXoo, ooXoo, oXXXo},
    /* '2'   */ {oXXXo, XoooX, ooooX, oooXo, ooXoo, oXooo, XXXXX},
    /* '3'   */ {XXXXX, oooXo, ooXoo, oooXo, ooooX, XoooX, oXXXo},
    /* '4'   */ {oooXo, ooXXo, oXoXo, XooXo, XXXXX, oooXo, oooXo},
    /* '5'   */ {XXXXX, Xoooo, XXXXo, ooooX, ooooX, XoooX, oXXXo},
    /* '6'   */ {ooXXo, oXooo, Xoooo, XXXXo, XoooX, XoooX, oXXXo},
    /* '7'   */ {XXXXX, ooooX, oooXo, ooXoo, oXooo, oXooo, oXooo},
    /* '8'   */ {oXXXo, XoooX, XoooX, oXXXo, XoooX, XoooX, oXXXo},
    /* '9'   */ {oXXXo, XoooX, XoooX, oXXXX, ooooX, oooXo, oXXoo},
    /* ':'   */ {ooooo, oXXoo, oXXoo, ooooo, oXXoo, oXXoo, ooooo},
    /* ';'   */ {ooooo, oXXoo, oXXoo, ooooo, oXXoo, ooXoo, oXooo},
    /* '<'   */ {oooXo, ooXoo, oXooo, Xoooo, oXooo, ooXoo, oooXo},
    /* '='   */ {ooooo, ooooo, XXXXX, ooooo, XXXXX, ooooo, ooooo},
    /* '>'   */ {oXooo, ooXoo, oooXo, ooooX, oooXo, ooXoo, oXooo},
    /* '?'   */ {oXXXo, XoooX, ooooX, oooXo, ooXoo, ooooo, ooXoo},
    /* '@'   */ {oXXXo, XoooX, ooooX, oXXoX, XoXoX, XoXoX, oXXXo},
    /* 'A'   */ {oXXXo, XoooX, XoooX, XXXXX, XoooX, XoooX, XoooX},
    /* 'B'   */ {XXXXo, XoooX, XoooX, XXXXo, XoooX, XoooX, XXXXo},
    /* 'C'   */ {oXXXo, XoooX, Xoooo, Xoooo, Xoooo, XoooX, oXXXo},
    /* 'D'   */ {XXXoo, XooXo, XoooX, XoooX, XoooX, XooXo, XXXoo},
    /* 'E'   */ {XXXXX, Xoooo, Xoooo, XXXXo, Xoooo, Xoooo, XXXXX},
    /* 'F'   */ {XXXXX, Xoooo, Xoooo, XXXXo, Xoooo, Xoooo, Xoooo},
    /* 'G'   */ {oXXXo, XoooX, Xoooo, XoXXX, XoooX, XoooX, oXXXX},
    /* 'H'   */ {XoooX, XoooX, XoooX, XXXXX, XoooX, XoooX, XoooX},
    /* 'I'   */ {oXXXo, ooXoo, ooXoo, ooXoo, ooXoo, ooXoo, oXXXo},
    /* 'J'   */ {ooXXX, oooXo, oooXo, oooXo, oooXo, XooXo, oXXoo},
    /* 'K'   */ {XoooX, XooXo, XoXoo, XXooo, XoXoo, XooXo, XoooX},
    /* 'L'   */ {Xoooo, Xoooo, Xoooo, Xoooo, Xoooo, Xoooo, XXXXX},
    /* 'M'   */ {XoooX, XXoXX, XoXoX, XoXoX, XoooX, XoooX, XoooX},
    /* 'N'   */ {XoooX, XoooX, XXooX, XoXoX, XooXX, XoooX, XoooX},
    /* 'O'   */ {oXXXo, XoooX, XoooX, XoooX, XoooX, XoooX, oXXXo},
    /* 'P'   */ {XXXXo, XoooX, XoooX, XXXXo, Xoooo, Xoooo, Xoooo},
    /* 'Q'   */ {oXXXo, XoooX, XoooX, XoooX, XoXoX, XooXo, oXXoX},
    /* 'R'   */ {XXXXo, XoooX, XoooX, XXXXo, XoXoo, XooXo, XoooX},
    /* 'S'   */ {oXXXX, Xoooo, Xoooo, oXXXo, ooooX, ooooX, XXXXo},
    /* 'T'   */ {XXXXX, ooXoo, ooXoo, ooXoo, ooXoo, ooXoo, ooXoo},
    /* 'U'   */ {XoooX, XoooX, XoooX, XoooX, XoooX, XoooX, oXXXo},
    /* 'V'   */ {XoooX, XoooX, XoooX, XoooX, XoooX, oXoXo, ooXoo},
    /* 'W'   */ {XoooX, XoooX, XoooX, XoXoX, XoXoX, XoXoX, oXoXo},
    /* 'X'   */ {XoooX, XoooX, oXoXo, ooXoo, oXoXo, XoooX, XoooX},
    /* 'Y'   */ {XoooX, XoooX, oXoXo, ooXoo, ooXoo, ooXoo, ooXoo},
    /* 'Z'   */ {XXXXX, ooooX, oooXo, ooXoo, oXooo, Xoooo, XXXXX},
    /* '['   */ {oXXXo, oXooo, oXooo, oXooo, oXooo, oXooo, oXXXo},
    /* '\\'  */ {ooooo, Xoooo, oXooo, ooXoo, oooXo, ooooX, ooooo},
    /* ']'   */ {oXXXo, oooXo, oooXo, oooXo, oooXo, oooXo, oXXXo},
    /* '^'   */ {ooXoo, oXoXo, XoooX, ooooo, ooooo, ooooo, ooooo},
    /* '_'   */ {ooooo, ooooo, ooooo, ooooo, ooooo, ooooo, XXXXX},
    /* '`'   */ {oXooo, ooXoo, oooXo, ooooo, ooooo, ooooo, ooooo},
    /* 'a'   */ {ooooo, ooooo, oXXXo, ooooX, oXXXX, XoooX, oXXXX},
    /* 'b'   */ {Xoooo, Xoooo, XoXXo, XXooX, XoooX, XoooX, XXXXo},
    /* 'c'   */ {ooooo, ooooo, oXXXo, Xoooo, Xoooo, XoooX, oXXXo},
    /* 'd'   */ {ooooX, ooooX, oXXoX, XooXX, XoooX, XoooX, oXXXX},
    /* 'e'   */ {ooooo, ooooo, oXXXo, XoooX, XXXXX, Xoooo, oXXXo},
    /* 'f'   */ {ooXXo, oXooX, oXooo, XXXoo, oXooo, oXooo, oXooo},
    /* 'g'   */ {ooooo, oXXXX, XoooX, XoooX, oXXXX, ooooX, oXXXo},
    /* 'h'   */ {Xoooo, Xoooo, XoXXo, XXooX, XoooX, XoooX, XoooX},
    /* 'i'   */ {ooXoo, ooooo, oXXoo, ooXoo, ooXoo, ooXoo, oXXXo},
    /* 'j'   */ {oooXo, ooooo, ooXXo, oooXo, oooXo, XooXo, oXXoo},
    /* 'k'   */ {Xoooo, Xoooo, XooXo, XoXoo, XXooo, XoXoo, XooXo},
    /* 'l'   */ {oXXoo, ooXoo, ooXoo, ooXoo, ooXoo, ooXoo, oXXXo},
    /* 'm'   */ {ooooo, ooooo, XXoXo, XoXoX, XoXoX, XoooX, XoooX},
    /* 'n'   */ {ooooo, ooooo, XoXXo, XXooX, XoooX, XoooX, XoooX},
    /* 'o'   */ {ooooo, ooooo, oXXXo, XoooX, XoooX, XoooX, oXXXo},
    /* 'p'   */ {ooooo, ooooo, XXXXo, XoooX, XXXXo, Xoooo, Xoooo},
    /* 'q'   */ {ooooo, ooooo, oXXoX, XooXX, oXXXX, ooooX, ooooX},
    /* 'r'   */ {ooooo, ooooo, XoXXo, XXooX, Xoooo, Xoooo, Xoooo},
    /* 's'   */ {ooooo, ooooo, oXXXX, Xoooo, oXXXo, ooooX, XXXXo},
    /* 't'   */ {oXooo, oXooo, XXXoo, oXooo, oXooo, oXooX, ooXXo},
    /* 'u'   */ {ooooo, ooooo, XoooX, XoooX, XoooX, XooXX, oXXoX},
    /* 'v'   */ {ooooo, ooooo, XoooX, XoooX, XoooX, oXoXo, ooXoo},
    /* 'w'   */ {ooooo, ooooo, XoooX, XoooX, XoXoX, XoXoX, oXoXo},
    /* 'x'   */ {ooooo, ooooo, XoooX, oXoXo, ooXoo, oXoXo, XoooX},
    /* 'y'   */ {ooooo, ooooo, XoooX, XoooX, oXXXX, ooooX, oXXXo},
    /* 'z'   */ {ooooo, ooooo, XXXXX, oooXo, ooXoo, oXooo, XXXXX},
    /* '{'   */ {oooXo, ooXoo, ooXoo, oXooo, ooXoo, ooXoo, oooXo},
    /* '|'   */ {ooXoo, ooXoo, ooXoo, ooXoo, ooXoo, ooXoo, ooXoo},
    /* '}'   */ {oXooo, ooXoo, ooXoo, oooXo, ooXoo, ooXoo, oXooo},
    /* '~'   */ {ooooo, ooooo, oXooo, XoXoX, oooXo, ooooo, ooooo},
};

#undef ooooo
#undef ooooX
#undef oooXo
#undef oooXX
#undef ooXoo
#undef ooXoX
#undef ooXXo
#undef ooXXX
#undef oXooo
#undef oXooX
#undef oXoXo
#undef oXoXX
#undef oXXoo
#undef oXXoX
#undef oXXXo
#undef oXXXX
#undef Xoooo
#undef XoooX
#undef XooXo
#undef XooXX
#undef XoXoo
#undef XoXoX
#undef XoXXo
#undef XoXXX
#undef XXooo
#undef XXooX
#undef XXoXo
#undef XXoXX
#undef XXXoo
#undef XXXoX
#undef XXXXo
#undef XXXXX

#endif /* BOARD_HAS_DISPLAY */
