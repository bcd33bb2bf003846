/*
 * woonkompas.c - `veld woonkompas print ID`: one Woonkompas conversation as
 * the one page client, support worker and housing corporation go through
 * and sign for the temporary tenancy: who took part, every theme of the
 * schema's list with the ones gone through marked, the agreements (the
 * client's `action` records that name the conversation: what, who acts, by
 * when) and the next review. As text for a terminal or a printer, or with
 * --html as one A4 page (the browser's print dialog makes it a PDF).
 *
 * Everything it reads goes through the store API, so the access log holds
 * the reads of the conversation, its client and its actions.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* What the page shows, read from the store. Each member is owned here. */
struct page {
	json_t *talk;    /* the woonkompas record */
	json_t *client;  /* its client */
	json_t *actions; /* the client's actions that name the conversation */
	json_t *themes;  /* the schema's list woonkompas_themes */
};

static void page_free(struct page *p)
{
	json_decref(p->talk);
	json_decref(p->client);
	json_decref(p->actions);
	json_decref(p->themes);
}

/* The schema's list `name` ([{"code","label"}...]), or an empty list. */
static json_t *schema_list(cli *c, const char *name)
{
	json_t *schema = NULL, *list = NULL;
	if (cli_schema_load(c, &schema) == 0)
		list = json_incref(json_object_get(json_object_get(schema, "lists"), name));
	json_decref(schema);
	return list != NULL ? list : json_array();
}

static int page_read(cli *c, const char *id, struct page *p)
{
	json_t *all = NULL, *a, *filter;
	char *text = NULL, *ftext;
	size_t i;
	int ex, rc;
	memset(p, 0, sizeof *p);
	if ((ex = rec_get(c, "woonkompas", id, &p->talk)) != 0 ||
	    (ex = rec_get(c, "client", cli_str(p->talk, "client"), &p->client)) != 0)
		return ex;
	filter = json_pack("{s:s}", "client", cli_str(p->talk, "client"));
	ftext = json_dumps(filter, JSON_COMPACT);
	json_decref(filter);
	rc = ftext ? veld_record_list(c->store, "action", ftext, c->purpose, &text) : VELD_ENOMEM;
	free(ftext);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	all = cli_parse(text);
	cli_free_text(text);
	if (all == NULL)
		return CLI_EXIT_FAIL;
	p->actions = json_array();
	json_array_foreach(all, i, a)
		if (cli_str(a, "woonkompas") && strcmp(cli_str(a, "woonkompas"), cli_str(p->talk, "id")) == 0)
			json_array_append(p->actions, a);
	json_decref(all);
	p->themes = schema_list(c, "woonkompas_themes");
	return 0;
}

/* Is `code` among the strings of array `arr`? */
static bool has(const json_t *arr, const char *code)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (code && strcmp(json_string_value(v), code) == 0)
			return true;
	return false;
}

/* A list of strings, joined with ", ", or "-". */
static void print_joined(FILE *out, const json_t *arr)
{
	size_t i;
	json_t *v;
	if (json_array_size(arr) == 0)
		fputs("-", out);
	json_array_foreach(arr, i, v)
		fprintf(out, "%s%s", i ? ", " : "", json_string_value(v));
}

static const char *or_dash(const json_t *obj, const char *key)
{
	const char *s = cli_str(obj, key);
	return s != NULL && *s ? s : "-";
}

/* ---- text ----------------------------------------------------------------------- */

static void print_text(const struct page *p)
{
	const json_t *gone = json_object_get(p->talk, "themes"), *t, *a;
	size_t i;
	printf("WOONKOMPAS - gesprek over de tijdelijke huurovereenkomst\n");
	printf("Client:        %s\n", or_dash(p->client, "name"));
	printf("Datum:         %s\n", or_dash(p->talk, "date"));
	printf("Deelnemers:    ");
	print_joined(stdout, json_object_get(p->talk, "participants"));
	printf("\n\nTHEMA'S ([x] besproken)\n");
	json_array_foreach(p->themes, i, t)
		printf("  [%c] %s\n", has(gone, cli_str(t, "code")) ? 'x' : ' ', or_dash(t, "label"));
	printf("\nSAMENVATTING\n  ");
	cli_print_cut(or_dash(p->talk, "summary"), 76, false);
	printf("\n\nAFSPRAKEN                                              WIE                 UITERLIJK\n");
	if (json_array_size(p->actions) == 0)
		printf("  -\n");
	json_array_foreach(p->actions, i, a) {
		printf("  ");
		cli_print_cut(or_dash(a, "description"), 52, true);
		printf(" %-19s %s%s\n", or_dash(a, "owner"), or_dash(a, "due"),
		       cli_str(a, "done") ? " (gedaan)" : "");
	}
	printf("\nVolgende evaluatie: %s\n\n", or_dash(p->talk, "next_review"));
	printf("Handtekening client: ____________  begeleider: ____________  corporatie: ____________\n");
}

/* ---- html ----------------------------------------------------------------------- */

/* Text escaped for HTML. */
static void put_html(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

static void print_html(const struct page *p)
{
	const json_t *gone = json_object_get(p->talk, "themes"), *t, *a, *v;
	size_t i;
	fputs("<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>Woonkompas</title>"
	      "<style>@page{size:A4;margin:15mm}body{font:10.5pt sans-serif;margin:0}"
	      "h1{font-size:15pt;margin:0 0 6pt}table{border-collapse:collapse;width:100%}"
	      "td,th{border:1px solid #999;padding:3pt 5pt;text-align:left;vertical-align:top}"
	      "th{background:#eee}.sign td{height:28pt}</style></head><body>\n", stdout);
	fputs("<h1>Woonkompas</h1><p>Gesprek over de tijdelijke huurovereenkomst</p><table>", stdout);
	fputs("<tr><th>Client</th><td>", stdout);
	put_html(stdout, or_dash(p->client, "name"));
	fputs("</td></tr><tr><th>Datum</th><td>", stdout);
	put_html(stdout, or_dash(p->talk, "date"));
	fputs("</td></tr><tr><th>Deelnemers</th><td>", stdout);
	json_array_foreach(json_object_get(p->talk, "participants"), i, v) {
		fputs(i ? ", " : "", stdout);
		put_html(stdout, json_string_value(v));
	}
	fputs("</td></tr></table><h2>Thema's</h2><table>", stdout);
	json_array_foreach(p->themes, i, t) {
		fprintf(stdout, "<tr><td>%s</td><td>", has(gone, cli_str(t, "code")) ? "&#9745;" : "&#9744;");
		put_html(stdout, or_dash(t, "label"));
		fputs("</td></tr>", stdout);
	}
	fputs("</table><h2>Samenvatting</h2><p>", stdout);
	put_html(stdout, or_dash(p->talk, "summary"));
	fputs("</p><h2>Afspraken</h2><table><tr><th>Wat</th><th>Wie</th><th>Uiterlijk</th></tr>", stdout);
	json_array_foreach(p->actions, i, a) {
		fputs("<tr><td>", stdout);
		put_html(stdout, or_dash(a, "description"));
		fputs("</td><td>", stdout);
		put_html(stdout, or_dash(a, "owner"));
		fputs("</td><td>", stdout);
		put_html(stdout, or_dash(a, "due"));
		fputs("</td></tr>", stdout);
	}
	fputs("</table><p>Volgende evaluatie: ", stdout);
	put_html(stdout, or_dash(p->talk, "next_review"));
	fputs("</p><table class=\"sign\"><tr><th>Client</th><th>Begeleider</th><th>Corporatie</th></tr>"
	      "<tr><td></td><td></td><td></td></tr></table></body></html>\n", stdout);
}

int cmd_woonkompas_print(cli *c, const cli_line *l)
{
	struct page p = {NULL, NULL, NULL, NULL};
	int ex = cli_open_store(c);
	if (ex == 0 && (ex = page_read(c, l->arg[0], &p)) == 0) {
		if (c->json) {
			json_t *j = json_pack("{s:O,s:O,s:O,s:O}", "conversation", p.talk, "client",
			                      p.client, "agreements", p.actions, "themes", p.themes);
			cli_print_json(j);
			json_decref(j);
		} else if (cli_flag(l, "html"))
			print_html(&p);
		else
			print_text(&p);
	}
	page_free(&p);
	return ex;
}
