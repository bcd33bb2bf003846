/*
 * report.c - `veld office report --period YYYYQn`: the partners' report
 * (veld_office_report, docs/report.md) as JSON, CSV or one printable HTML
 * document.
 *
 * The store makes the figures and applies every privacy rule; this file
 * only lays them out. The JSON is the store's answer as it is. The CSV has
 * one row per indicator (section, indicator, group, unit, one column per
 * quarter). The HTML is a single A4 document with the four quarters side
 * by side and a small chart per indicator, drawn by the vendored uPlot,
 * whose script and style are built into veld and inlined: the file loads
 * nothing from outside itself, so it opens offline and prints the same
 * anywhere. Labels are Dutch unless --lang en.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* uPlot 1.6.32, from cli/console/vendor/uplot, built in by core/embed.cmake
 * (cli/CMakeLists.txt); each ends with a NUL. */
extern const char cli_uplot_js[];
extern const char cli_uplot_css[];

#define QUARTERS 4

/* The text of {"nl": ..., "en": ...} in the language asked for. */
static const char *label_of(const json_t *obj, const char *key, const char *lang)
{
	const json_t *l = json_object_get(obj, key);
	const char *s = json_string_value(json_object_get(l, lang));
	return s != NULL ? s : "";
}

/* An indicator's group as a person reads it: its label, else the code (a
 * team id); "" for none. */
static const char *group_of(const json_t *ind, const char *lang)
{
	const char *g = label_of(ind, "group_label", lang);
	return *g ? g : (cli_str(ind, "group") ? cli_str(ind, "group") : "");
}

/* A cell as text: a number, "<5", "x", or `none` for null. */
static const char *cell_text(const json_t *c, char *buf, size_t n, const char *none)
{
	if (json_is_integer(c))
		snprintf(buf, n, "%lld", (long long)json_integer_value(c));
	else if (json_is_real(c))
		snprintf(buf, n, "%g", json_real_value(c));
	else if (json_is_string(c))
		snprintf(buf, n, "%s", json_string_value(c));
	else
		snprintf(buf, n, "%s", none);
	return buf;
}

/* ---- CSV ------------------------------------------------------------------- */

/* A field of RFC 4180: quoted when it holds a comma, quote or line break. */
/* A cell. A text a spreadsheet would take for a formula (one starting with
 * =, +, -, @, a tab or a carriage return: a team's name, say) is written
 * with an apostrophe before it, so it stays text; numbers are not texts. */
static void csv_field(FILE *f, const char *s, bool last, bool text)
{
	bool formula = text && *s && strchr("=+-@\t\r", *s);
	if (!formula && strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
	} else {
		fputc('"', f);
		if (formula)
			fputc('\'', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	}
	fputc(last ? '\n' : ',', f);
}

static void write_csv(FILE *f, const json_t *doc, const char *lang)
{
	const json_t *quarters = json_object_get(doc, "quarters"), *sec, *ind;
	size_t i, j;
	char buf[32];
	fputs("section,indicator,group,unit", f);
	for (i = 0; i < QUARTERS; i++)
		fprintf(f, ",%s", json_string_value(json_array_get(quarters, i)));
	fputc('\n', f);
	json_array_foreach(json_object_get(doc, "sections"), i, sec) {
		json_array_foreach(json_object_get(sec, "indicators"), j, ind) {
			const json_t *values = json_object_get(ind, "values");
			csv_field(f, label_of(sec, "title", lang), false, true);
			csv_field(f, label_of(ind, "label", lang), false, true);
			csv_field(f, group_of(ind, lang), false, true);
			csv_field(f, cli_str(ind, "unit") ? cli_str(ind, "unit") : "", false, true);
			for (size_t q = 0; q < QUARTERS; q++)
				csv_field(f, cell_text(json_array_get(values, q), buf, sizeof buf, ""),
					q + 1 == QUARTERS, false);
		}
	}
}

/* ---- HTML ------------------------------------------------------------------- */

static void html_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* The words of the page that are not in the report's JSON. */
struct words {
	const char *title, *period, *indicator, *group, *unit, *chart, *none, *rules, *target;
};
static const struct words words_nl = {
	"Rapportage voor de partners", "Periode", "Indicator", "Groep", "Eenheid", "Verloop",
	"geen gegevens",
	"Alleen totalen. &lt;5: een aantal van 1 tot 4; x: verborgen zodat een totaal geen klein "
	"aantal prijsgeeft; &ndash;: een basis onder 10 of geen gegevens. Zie docs/report.md.",
	"doel"};
static const struct words words_en = {
	"Report for the partners", "Period", "Indicator", "Group", "Unit", "Trend", "no data",
	"Aggregates only. &lt;5: a count of 1 to 4; x: hidden so that a total does not give a "
	"small count back; &ndash;: a base under 10 or no data. See docs/report.md.",
	"target"};

/* A4 portrait; the quarters side by side; a section does not break
 * across pages where it fits on one. */
static const char page_css[] =
	"@page{size:A4;margin:14mm 12mm}"
	"body{font:9pt/1.35 system-ui,sans-serif;color:#111;margin:0 auto;max-width:186mm}"
	"h1{font-size:15pt;margin:0 0 2mm}h2{font-size:11pt;margin:5mm 0 1.5mm}"
	".rules{font-size:7.5pt;color:#444;margin:0 0 3mm}"
	"section{break-inside:avoid;page-break-inside:avoid}"
	"table{border-collapse:collapse;width:100%}"
	"th,td{border-bottom:.2mm solid #ccc;padding:.6mm 1.2mm;text-align:left;vertical-align:middle}"
	"td.n,th.n{text-align:right;white-space:nowrap;width:13mm}"
	"td.g{color:#444}td.c{width:32mm;padding:0}"
	".chart{width:30mm;height:11mm}"
	"@media print{body{max-width:none}}";

/* The values of an indicator that a chart can draw: its numbers, null for
 * the rest; NULL when it has fewer than two numbers. */
static json_t *chart_values(const json_t *values)
{
	json_t *out = json_array(), *v;
	size_t i, numbers = 0;
	json_array_foreach(values, i, v) {
		bool num = json_is_number(v);
		numbers += num;
		json_array_append_new(out, num ? json_copy(v) : json_null());
	}
	if (numbers < 2) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* A unit as the page says it. */
static const char *unit_word(const char *unit, const char *lang)
{
	static const char *const units[][3] = {
		{"count", "aantal", "count"}, {"percent", "%", "%"}, {"days", "dagen", "days"},
		{"hours", "uren", "hours"}, {"score", "score", "score"}, {"euro", "euro", "euro"},
	};
	for (size_t i = 0; unit != NULL && i < sizeof units / sizeof *units; i++)
		if (strcmp(units[i][0], unit) == 0)
			return units[i][strcmp(lang, "en") == 0 ? 2 : 1];
	return unit != NULL ? unit : "";
}

/* One indicator; its label only when it differs from the row before
 * (`prev`), so a breakdown reads as one block. */
static void html_row(FILE *f, const json_t *ind, const json_t *prev, const char *lang,
	const struct words *w)
{
	const json_t *values = json_object_get(ind, "values"), *target = json_object_get(ind, "target");
	json_t *chart = chart_values(values);
	char buf[32];
	fputs("<tr><td>", f);
	if (prev == NULL || strcmp(cli_str(prev, "id"), cli_str(ind, "id")) != 0)
		html_text(f, label_of(ind, "label", lang));
	if (json_is_integer(target))
		fprintf(f, " (%s %lld)", w->target, (long long)json_integer_value(target));
	fputs("</td><td class=g>", f);
	html_text(f, group_of(ind, lang));
	fputs("</td><td>", f);
	html_text(f, unit_word(cli_str(ind, "unit"), lang));
	fputs("</td>", f);
	for (size_t q = 0; q < QUARTERS; q++) {
		fputs("<td class=n>", f);
		html_text(f, cell_text(json_array_get(values, q), buf, sizeof buf, "\xe2\x80\x93"));
		fputs("</td>", f);
	}
	fputs("<td class=c>", f);
	if (chart != NULL) {
		char *data = json_dumps(chart, JSON_COMPACT);
		fputs("<div class=chart data-v=\"", f);
		html_text(f, data);
		fputs("\"></div>", f);
		free(data);
		json_decref(chart);
	}
	fputs("</td></tr>\n", f);
}

static void html_section(FILE *f, const json_t *sec, const json_t *quarters, const char *lang,
	const struct words *w)
{
	const json_t *ind;
	size_t i;
	fputs("<section><h2>", f);
	html_text(f, label_of(sec, "title", lang));
	fprintf(f, "</h2>\n<table><thead><tr><th>%s</th><th>%s</th><th>%s</th>", w->indicator,
		w->group, w->unit);
	for (i = 0; i < QUARTERS; i++) {
		fputs("<th class=n>", f);
		html_text(f, json_string_value(json_array_get(quarters, i)));
		fputs("</th>", f);
	}
	fprintf(f, "<th>%s</th></tr></thead><tbody>\n", w->chart);
	json_array_foreach(json_object_get(sec, "indicators"), i, ind)
		html_row(f, ind, i ? json_array_get(json_object_get(sec, "indicators"), i - 1) : NULL,
			lang, w);
	fputs("</tbody></table></section>\n", f);
}

/* Draws each div.chart from its data-v once the page is there: a line
 * over the four quarters, no legend, no cursor, small axes. */
static const char charts_js[] =
	"document.querySelectorAll('div.chart').forEach(function(el){"
	"var y=JSON.parse(el.getAttribute('data-v'));"
	"var x=y.map(function(_,i){return i;});"
	"new uPlot({width:112,height:42,legend:{show:false},cursor:{show:false},"
	"scales:{x:{time:false}},"
	"axes:[{show:false},{size:28,font:'7px sans-serif',ticks:{show:false},grid:{width:0.5}}],"
	"series:[{},{stroke:'#1f5fa8',width:1.5,points:{size:4},spanGaps:false}]},"
	"[x,y],el);});";

static void write_html(FILE *f, const json_t *doc, const char *lang)
{
	const struct words *w = strcmp(lang, "en") == 0 ? &words_en : &words_nl;
	const json_t *quarters = json_object_get(doc, "quarters"), *sec;
	size_t i;
	fprintf(f, "<!doctype html>\n<html lang=%s><head><meta charset=utf-8>\n<title>%s ", lang,
		w->title);
	html_text(f, cli_str(doc, "period"));
	fputs("</title>\n<style>", f);
	fputs(cli_uplot_css, f);
	fputs(page_css, f);
	fputs("</style>\n<script>", f);
	fputs(cli_uplot_js, f);
	fprintf(f, "</script>\n</head><body>\n<h1>%s</h1>\n<p>%s ", w->title, w->period);
	html_text(f, cli_str(doc, "period"));
	fputs(" (", f);
	for (i = 0; i < QUARTERS; i++) {
		fputs(i ? ", " : "", f);
		html_text(f, json_string_value(json_array_get(quarters, i)));
	}
	fprintf(f, ")</p>\n<p class=rules>%s</p>\n", w->rules);
	json_array_foreach(json_object_get(doc, "sections"), i, sec)
		html_section(f, sec, quarters, lang, w);
	fprintf(f, "<script>%s</script>\n</body></html>\n", charts_js);
}

/* ---- the command ---------------------------------------------------------------- */

static const char *const formats[] = {"json", "csv", "html", NULL};
static const char *const langs[] = {"nl", "en", NULL};

static int write_report(cli *c, const json_t *doc, const char *format, const char *lang,
	const char *path)
{
	FILE *f = path != NULL ? fopen(path, "w") : stdout;
	int bad;
	if (f == NULL)
		return cli_fail(CLI_EXIT_FAIL, "cannot write the report to %s", path);
	if (strcmp(format, "json") == 0)
		bad = json_dumpf(doc, f, JSON_INDENT(2)) != 0 || fputc('\n', f) == EOF;
	else {
		if (strcmp(format, "csv") == 0)
			write_csv(f, doc, lang);
		else
			write_html(f, doc, lang);
		bad = ferror(f);
	}
	bad |= path != NULL ? fclose(f) != 0 : fflush(f) != 0;
	if (bad)
		return cli_fail(CLI_EXIT_FAIL, "cannot write the report%s%s", path ? " to " : "",
			path ? path : "");
	if (path != NULL && !c->json)
		fprintf(stderr, "wrote the partners' report for %s to %s\n", cli_str(doc, "period"), path);
	return 0;
}

int cmd_office_report(cli *c, const cli_line *l)
{
	const char *format = cli_opt(l, "format"), *lang = cli_opt(l, "lang");
	char *text = NULL, list[64];
	json_t *doc;
	int ex;
	if (cli_opt(l, "period") == NULL)
		return cli_usage(c, "which quarter? give --period YYYYQn, for example 2026Q4");
	if (format == NULL)
		format = "json";
	if (lang == NULL)
		lang = "nl";
	if (!cli_in_list(format, formats))
		return cli_usage(c, "--format is one of %s", cli_join(formats, list, sizeof list));
	if (!cli_in_list(lang, langs))
		return cli_usage(c, "--lang is one of %s", cli_join(langs, list, sizeof list));
	if ((ex = cli_open_store(c)) != 0 ||
	    (ex = cli_take_json(veld_office_report(c->store, cli_opt(l, "period"), &text), &text,
		    &doc)) != 0)
		return ex;
	ex = write_report(c, doc, format, lang, cli_opt(l, "out"));
	json_decref(doc);
	return ex;
}
