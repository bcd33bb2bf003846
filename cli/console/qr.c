/*
 * qr.c - an invite code as a QR code, drawn as SVG on the server.
 *
 * libqrencode makes the matrix; each dark module becomes one square of a
 * single SVG path, with the four-module quiet zone the standard asks for.
 * The page shows the SVG as it is: nothing is drawn in the browser, and no
 * image leaves the machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "console.h"

#define QUIET 4

char *console_qr_svg(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (q == NULL)
		return NULL;
	int w = q->width, side = w + 2 * QUIET;
	/* Each dark module is "M x y h1v1h-1z" (at most 24 bytes). */
	size_t cap = (size_t)w * (size_t)w * 24 + 512, len = 0;
	char *svg = malloc(cap);
	if (svg != NULL) {
		len += (size_t)snprintf(svg, cap, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
			"viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\" role=\"img\">"
			"<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
			side, side, side, side);
		for (int y = 0; y < w; y++)
			for (int x = 0; x < w; x++)
				if (q->data[y * w + x] & 1)
					len += (size_t)snprintf(svg + len, cap - len, "M%d %dh1v1h-1z",
						x + QUIET, y + QUIET);
		snprintf(svg + len, cap - len, "\"/></svg>");
	}
	QRcode_free(q);
	return svg;
}
