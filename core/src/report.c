/* report.c - the partners' report (veld_office_report): what the five
 * agreements of "Op weg naar een beschermd thuis" ask to watch, per
 * quarter, computed in the office's store from the records.
 *
 * The report is aggregates only. Every figure is a count, a share, a
 * median, a mean or a sum over clients, and the rules that keep a person
 * from being picked out of it are applied here, in one place, before
 * anything leaves the store (docs/report.md has them and why):
 *  - a count of 1 to 4 is shown as "<5"; a 0 is a structural zero, shown;
 *  - where a total and its parts (or a base and the part of it shown)
 *    would let a hidden count be worked out by subtraction, one more cell
 *    is hidden ("x"): secondary suppression (protect());
 *  - a share, mean or median, and a sum of hours or days, needs a base of
 *    at least 10 clients (null otherwise), and a share whose count is
 *    hidden is hidden with it;
 *  - a team is shown on its own only with at least 10 clients; smaller
 *    teams are one row together.
 * Nothing of a record but the fields the figures need is opened: no name,
 * address, date of birth or text of any kind, so none can reach a figure.
 * The only strings in the answer are the report's own labels, ZRM domain
 * labels and team ids.
 *
 * A quarter is seen as on its last day, or today while it runs: the
 * "as-of" day. Counts of events (evictions, time-outs started) are of the
 * days from the quarter's first day to that day; states (open arrears, a
 * current contact person) are as they were on it, worked out from the
 * dates in the records, so a past quarter reads the same next year. Days
 * are day numbers of the date part as written (kinds.c), as in due.c. */
#include "access.h"
#include "due.h"
#include "error.h"
#include "hlc.h"
#include "kinds.h"
#include "listing.h"
#include "store.h"
#include "veld_errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define QUARTERS 4
/* A share, mean, median or sum needs this many clients (or records)
 * beneath it; a team is shown on its own from this many clients. */
#define BASE_MIN 10
/* A count from 1 to this is shown as "<5". */
#define SMALL_MAX 4
/* A standing decision "expires soon" within this many days. */
#define EXPIRING_DAYS 90
/* A device that sent nothing for this many days has not synced. */
#define STALE_DAYS 14
/* ZRM progress compares scores at least this many months apart. */
#define ZRM_MONTHS 3

enum report_stmt { RP_DOMAINS, RP_DEVICES, RP_LAST_OP, RP_LAST_LOG, RP_CONFLICTS };
static const char *const report_sql[] = {
	[RP_DOMAINS] = "SELECT version, code, label FROM zrm_domains ORDER BY version, ord",
	/* Worker devices the office certified and has not revoked. */
	[RP_DEVICES] = "SELECT device, enrolled FROM certs WHERE role <> 'office'"
	               " AND revoked_seq IS NULL ORDER BY device",
	[RP_LAST_OP] = "SELECT max(hlc) FROM ops WHERE device = ?1 AND hlc <= ?2",
	[RP_LAST_LOG] = "SELECT max(at) FROM office_audit WHERE device = ?1 AND at <= ?2",
	[RP_CONFLICTS] = "SELECT count(*) FROM (SELECT DISTINCT entity, field FROM conflicts)",
};
static const struct veld__sqltab report_tab = VELD_SQLTAB(VELD_SQL_REPORT, report_sql);

/* ---- what the report reads of the records ---------------------------------- */

#define FIELDS(...) (const char *const[]){__VA_ARGS__, NULL}
/* Every kind the figures read, with the fields they read: nothing else is
 * opened. The client record gives its id and team (metadata) only. */
static const struct {
	const char *kind;
	const char *const *fields;
} report_kinds[] = {
	{"client", FIELDS("care_status")},
	{"visit", FIELDS("kind", "planned", "started", "ended", "zrm_version", "scores")},
	{"signal", FIELDS("kind")},
	{"phase", FIELDS("phase", "date")},
	{"readiness", FIELDS("decision", "date")},
	{"tenancy", FIELDS("own_name_actual", "end", "end_reason")},
	{"time_out", FIELDS("start", "end", "rent_continued", "benefit_continued",
	                    "corporation_informed")},
	{"day_activity", FIELDS("in_neighbourhood", "start", "end")},
	{"escalation", FIELDS("about", "amount", "status")},
	{"escalation_step", FIELDS("escalation", "step", "date")},
	{"waakvlam", FIELDS("start", "end")},
	{"waakvlam_use", FIELDS("relapse_date", "care_started")},
	{"contact_person", FIELDS("from", "to", "budget_hours_granted", "budget_hours_spent")},
};

/* ---- cells and rows ----------------------------------------------------------- */

enum cell_state { CELL_NONE, CELL_VALUE, CELL_SMALL, CELL_HIDDEN };
struct cell {
	enum cell_state st;
	double v; /* the value; kept for a suppressed count, never shown */
};

/* One indicator row: one cell per quarter, oldest first. */
struct row {
	int section;
	const char *id;
	const char *group;                /* NULL: no breakdown */
	const char *group_nl, *group_en;  /* its label, when not the group itself */
	int emit;                         /* 0: a count behind a share, not shown */
	struct cell c[QUARTERS];
};

struct quarter {
	char id[16];
	int64_t start, end, asof; /* day numbers; asof = min(end, today) */
	int current;              /* today falls in it */
};

struct report {
	veld_store *s;
	struct quarter q[QUARTERS];
	int64_t today;
	json_t *records;   /* {kind: [records]} */
	json_t *by_client; /* {kind: {client: [records]}} */
	json_t *team_of;   /* {client: team} */
	json_t *domains;   /* {version: [[code, label]...]} */
	struct row *rows;
	size_t nrows, cap;
};

enum section {
	S_EVICTIONS, S_DAY_ACTIVITY, S_CONTACT_PERSON, S_STANDING_DECISION, S_TIME_OUT, S_ZRM,
	S_FLOW, S_DEMAND, S_DATA_QUALITY
};
static const struct {
	const char *id, *nl, *en;
} sections[] = {
	[S_EVICTIONS] = {"evictions", "Geen huisuitzettingen", "No evictions"},
	[S_DAY_ACTIVITY] = {"day_activity", "Dagbesteding in de wijk", "Day activities in the neighbourhood"},
	[S_CONTACT_PERSON] = {"contact_person", "Vaste contactpersoon met budget",
	                      "A fixed contact person with a budget"},
	[S_STANDING_DECISION] = {"standing_decision", "Waakvlambeschikking", "Standing care decision"},
	[S_TIME_OUT] = {"time_out", "Huur en uitkering door tijdens een time-out",
	                "Rent and benefit continue during a time-out"},
	[S_ZRM] = {"zrm", "Voortgang zelfredzaamheid (ZRM)", "Progress in self-reliance (ZRM)"},
	[S_FLOW] = {"flow", "Doorstroom", "Flow"},
	[S_DEMAND] = {"demand", "Vraag", "Demand"},
	[S_DATA_QUALITY] = {"data_quality", "Kwaliteit van de gegevens", "Data quality"},
};

/* Every indicator: its unit and labels (docs/report.md says what each
 * counts). */
static const struct indicator {
	const char *id, *unit, *nl, *en;
} indicators[] = {
	{"arrears_clients", "count", "Cliënten met open huurachterstand",
	 "Clients with open rent arrears"},
	{"arrears_by_size", "count", "Cliënten met open huurachterstand, naar bedrag",
	 "Clients with open rent arrears, by amount"},
	{"arrears_by_step", "count", "Cliënten met open huurachterstand, naar bereikte stap",
	 "Clients with open rent arrears, by step reached"},
	{"evictions_carried_out", "count", "Huisuitzettingen", "Evictions carried out"},
	{"evictions_prevented", "count", "Huisuitzettingen voorkomen", "Evictions prevented"},
	{"arrears_signals", "count", "Signalen huurachterstand", "Rent-arrears signals"},
	{"arrears_signals_without_contact", "count", "Signalen zonder contact daarna",
	 "Signals without a contact since"},
	{"signal_to_contact_days", "days", "Mediaan dagen van signaal tot eerste contact",
	 "Median days from signal to first contact"},
	{"day_activity_clients", "count", "Cliënten met een lopende dagbesteding",
	 "Clients with a current day activity"},
	{"day_activity_share", "percent", "Aandeel cliënten met dagbesteding",
	 "Share of clients with a day activity"},
	{"day_activity_local", "count", "Cliënten met dagbesteding in de eigen wijk",
	 "Clients with a day activity in their own neighbourhood"},
	{"day_activity_local_share", "percent", "Aandeel daarvan in de eigen wijk",
	 "Share of those in their own neighbourhood"},
	{"contact_person_clients", "count", "Cliënten met een vaste contactpersoon",
	 "Clients with a named contact person"},
	{"contact_person_share", "percent", "Aandeel cliënten met een vaste contactpersoon",
	 "Share of clients with a named contact person"},
	{"contact_person_changes", "count", "Wisselingen van contactpersoon",
	 "Changes of contact person"},
	{"clients_without_contact_person", "count", "Cliënten met dagen zonder contactpersoon",
	 "Clients with days without a contact person"},
	{"days_without_contact_person", "days", "Dagen zonder contactpersoon (totaal)",
	 "Days without a contact person (total)"},
	{"budget_hours_granted", "hours", "Budget toegekend (uren)", "Budget granted (hours)"},
	{"budget_hours_spent", "hours", "Budget besteed (uren)", "Budget spent (hours)"},
	{"standing_decisions_active", "count", "Cliënten met een lopende waakvlambeschikking",
	 "Clients with an active standing decision"},
	{"standing_decisions_expiring", "count", "Waarvan binnen 90 dagen aflopend",
	 "Of which expiring within 90 days"},
	{"standing_decision_uses", "count", "Keren gebruikt", "Times used"},
	{"relapse_to_care_days", "days", "Mediaan dagen van terugval tot zorg",
	 "Median days from relapse to care"},
	{"time_outs_started", "count", "Time-outs begonnen", "Time-outs started"},
	{"time_outs_ended", "count", "Time-outs beëindigd", "Time-outs ended"},
	{"time_outs_running", "count", "Time-outs in het kwartaal", "Time-outs in the quarter"},
	{"time_out_rent_continued", "count", "Huur doorbetaald", "Rent continued"},
	{"time_out_rent_continued_share", "percent", "Aandeel huur doorbetaald",
	 "Share rent continued"},
	{"time_out_benefit_continued", "count", "Uitkering doorbetaald", "Benefit continued"},
	{"time_out_benefit_continued_share", "percent", "Aandeel uitkering doorbetaald",
	 "Share benefit continued"},
	{"time_out_corporation_informed", "count", "Corporatie geïnformeerd",
	 "Corporation informed"},
	{"time_out_corporation_informed_share", "percent", "Aandeel corporatie geïnformeerd",
	 "Share corporation informed"},
	{"zrm_clients", "count", "Cliënten twee keer gemeten (3 maanden uiteen)",
	 "Clients measured twice (3 months apart)"},
	{"zrm_mean_change", "score", "Gemiddelde verandering", "Mean change"},
	{"zrm_improved", "count", "Vooruitgegaan", "Improved"},
	{"zrm_improved_share", "percent", "Aandeel vooruitgegaan", "Share improved"},
	{"zrm_same", "count", "Gelijk gebleven", "Same"},
	{"zrm_same_share", "percent", "Aandeel gelijk gebleven", "Share the same"},
	{"zrm_worse", "count", "Achteruitgegaan", "Worse"},
	{"zrm_worse_share", "percent", "Aandeel achteruitgegaan", "Share worse"},
	{"clients_in_programme", "count", "Cliënten op weg (beschermd wonen of thuis)",
	 "Clients on the road (sheltered or protected at home)"},
	{"moved_out_sheltered", "count", "Verhuisd uit beschermd wonen",
	 "Moved out of sheltered housing"},
	{"own_name_moves", "count", "Huurcontract op eigen naam gezet",
	 "Tenancies moved to the client's own name"},
	{"tenancies_ended", "count", "Huurcontracten beëindigd, naar reden",
	 "Tenancies ended, by reason"},
	{"back_to_sheltered", "count", "Terug naar beschermd wonen", "Back into sheltered housing"},
	{"ready_without_home", "count", "Klaar om te verhuizen, zonder woning",
	 "Ready to move, without a home"},
	{"waiting_days_median", "days", "Mediaan wachtdagen sinds het besluit",
	 "Median days waiting since the decision"},
	{"home_visits", "count", "Huisbezoeken", "Home visits"},
	{"visits_without_full_zrm", "count", "Huisbezoeken zonder volledige ZRM",
	 "Home visits without a full ZRM"},
	{"open_conflicts", "count", "Open conflicten (nu)", "Open conflicts (now)"},
	{"devices_not_synced", "count", "Apparaten 14 dagen niet gesynchroniseerd",
	 "Devices not synced for 14 days"},
};

static const struct indicator *indicator(const char *id)
{
	for (size_t i = 0; i < COUNT(indicators); i++)
		if (strcmp(indicators[i].id, id) == 0)
			return &indicators[i];
	return NULL;
}

/* Room for n more rows, so row_add cannot fail after it. */
static int rows_reserve(struct report *r, size_t n)
{
	struct row *more;
	size_t cap = r->cap ? r->cap : 64;
	while (cap < r->nrows + n)
		cap *= 2;
	if (cap == r->cap)
		return VELD_OK;
	if (!(more = realloc(r->rows, cap * sizeof *more)))
		return veld__err(VELD_ENOMEM, "out of memory");
	r->rows = more;
	r->cap = cap;
	return VELD_OK;
}

/* A new row of `id` in section `sec` (room reserved), every cell "no
 * data" until set; its index (rows move as the array grows). */
static long row_add(struct report *r, int sec, const char *id, const char *group,
                    const char *group_nl, const char *group_en, int emit)
{
	r->rows[r->nrows] = (struct row){sec, id, group, group_nl, group_en, emit, {{0}}};
	return (long)r->nrows++;
}

static long row(struct report *r, int sec, const char *id)
{
	return row_add(r, sec, id, NULL, NULL, NULL, 1);
}

static void set(struct report *r, long i, int q, struct cell c)
{
	r->rows[i].c[q] = c;
}

/* ---- the rules on cells ------------------------------------------------------ */

/* v rounded to 1/scale (half away from zero), without libm. */
static double round_to(double v, double scale)
{
	double x = v * scale;
	return (double)(long long)(x < 0 ? x - 0.5 : x + 0.5) / scale;
}

/* A count: 1..4 are suppressed ("<5"); 0 is shown, a structural zero. */
static struct cell count_cell(int64_t n)
{
	return (struct cell){n >= 1 && n <= SMALL_MAX ? CELL_SMALL : CELL_VALUE, (double)n};
}

static int hidden(const struct cell *c)
{
	return c->st == CELL_SMALL || c->st == CELL_HIDDEN;
}

/* A statistic over `base` clients (or records): shown from BASE_MIN. */
static struct cell stat_cell(double v, size_t base)
{
	return base >= BASE_MIN ? (struct cell){CELL_VALUE, v} : (struct cell){CELL_NONE, 0};
}

/* The share `part` is of `base`, in percent to one decimal: only on a base
 * of at least BASE_MIN, and hidden with its count or its base (a share and
 * one of them give the other back). */
static struct cell share_cell(const struct cell *part, const struct cell *base)
{
	if (base->v < BASE_MIN)
		return (struct cell){CELL_NONE, 0};
	/* A shown count and its share give the base back, a shown base and
	 * the share give the count: either hidden, the share is too. */
	if (hidden(part) || hidden(base))
		return (struct cell){CELL_HIDDEN, 0};
	return (struct cell){CELL_VALUE, round_to(100.0 * part->v / base->v, 10)};
}

/* Secondary suppression of one sum: total = the parts, plus
 * `rest` when the parts do not cover the total (rest < 0: they do). A
 * cell that is hidden could be worked out when it is the only unknown of
 * the sum; the rest is unknown too, since it is never shown. So while
 * exactly one thing is unknown, and it is a hidden cell or a rest of 1..4,
 * one more cell is hidden: the smallest part shown that is not zero, else
 * the total. A zero stays: it says nothing about the others. protect()
 * is the same for rows, in quarter q. */
static void protect_cells(struct cell *total, struct cell **parts, size_t n, int64_t rest)
{
	for (;;) {
		size_t unknown = rest >= 0, i;
		int small_known = 0;
		struct cell *pick = NULL;
		if (total && hidden(total))
			unknown++;
		for (i = 0; i < n; i++)
			unknown += hidden(parts[i]);
		small_known = unknown == 1 && !(rest >= 0 && (rest == 0 || rest > SMALL_MAX));
		if (!small_known)
			return;
		for (i = 0; i < n; i++) {
			struct cell *c = parts[i];
			if (c->st == CELL_VALUE && c->v > 0 && (!pick || c->v < pick->v))
				pick = c;
		}
		if (!pick && total && total->st == CELL_VALUE && total->v > 0)
			pick = total;
		if (!pick)
			return;
		pick->st = CELL_HIDDEN;
	}
}

static void protect(struct row *total, struct row **parts, size_t n, int64_t rest, int q)
{
	struct cell *cells[16];
	if (n > COUNT(cells))
		return;
	for (size_t i = 0; i < n; i++)
		cells[i] = &parts[i]->c[q];
	protect_cells(total ? &total->c[q] : NULL, cells, n, rest);
}

/* protect() for a total row and a run of part rows r->rows[first ..
 * first + n - 1], in every quarter. */
static void protect_run(struct report *r, long total, long first, size_t n)
{
	struct row *parts[16];
	if (n > COUNT(parts))
		return;
	for (size_t i = 0; i < n; i++)
		parts[i] = &r->rows[first + (long)i];
	/* No breakdown of a group under BASE_MIN: its zeros would say what
	 * the few all have in common. */
	for (int q = 0; q < QUARTERS; q++)
		if (r->rows[total].c[q].v > 0 && r->rows[total].c[q].v < BASE_MIN)
			for (size_t i = 0; i < n; i++)
				parts[i]->c[q] = (struct cell){CELL_NONE, 0};
	for (int q = 0; q < QUARTERS; q++)
		protect(&r->rows[total], parts, n, -1, q);
}

/* protect() for one part of a base row (the rest is the base minus it),
 * in every quarter. */
static void protect_part(struct report *r, long base, long part)
{
	struct row *p = &r->rows[part];
	for (int q = 0; q < QUARTERS; q++)
		protect(&r->rows[base], &p, 1,
		        (int64_t)r->rows[base].c[q].v - (int64_t)p->c[q].v, q);
}

/* The median of v[0..n-1] (sorts v); 0 for none. */
static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* ---- reading the records ------------------------------------------------------ */

static const char *str(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

static int is(json_t *rec, const char *key, const char *value)
{
	const char *v = str(rec, key);
	return v && strcmp(v, value) == 0;
}

/* A date field as a day number: 0, or -1 if the record has none. */
static int day_of(json_t *rec, const char *field, int64_t *day)
{
	return veld__day_number(str(rec, field), day);
}

/* The day a visit took place, or was planned to. */
static int visit_day(json_t *visit, int64_t *day)
{
	return day_of(visit, "started", day) == 0 || day_of(visit, "ended", day) == 0 ||
	       day_of(visit, "planned", day) == 0 ? 0 : -1;
}

static json_t *all_of(struct report *r, const char *kind)
{
	return json_object_get(r->records, kind);
}

/* The records of `kind` of one client (an array; NULL for none). */
static json_t *of_client(struct report *r, const char *kind, const char *client)
{
	return json_object_get(json_object_get(r->by_client, kind), client);
}

static int in_range(int64_t day, int64_t from, int64_t to)
{
	return day >= from && day <= to;
}

/* The records of each kind by client, and each client's team. */
static int index_records(struct report *r)
{
	const char *kind;
	json_t *list, *rec;
	size_t i;
	json_object_foreach(r->records, kind, list) {
		json_t *map = json_object();
		if (!map || json_object_set_new(r->by_client, kind, map) != 0)
			return veld__err(VELD_ENOMEM, "out of memory");
		json_array_foreach(list, i, rec) {
			const char *c = str(rec, "client") ? str(rec, "client") : str(rec, "id");
			json_t *arr = json_object_get(map, c);
			if (!c)
				continue;
			if (!arr && json_object_set_new(map, c, arr = json_array()) != 0)
				return veld__err(VELD_ENOMEM, "out of memory");
			json_array_append(arr, rec);
			if (strcmp(kind, "client") == 0 && str(rec, "team"))
				json_object_set_new(r->team_of, c, json_string(str(rec, "team")));
		}
	}
	return VELD_OK;
}

/* ---- a client's road: phases ---------------------------------------------------- */

/* The client's phase on `day`: the latest dated on or before it (on one
 * date, the one recorded last); NULL before the first. */
static const char *phase_on(struct report *r, const char *client, int64_t day)
{
	json_t *rec, *best = NULL;
	int64_t d, best_day = 0;
	size_t i;
	json_array_foreach(of_client(r, "phase", client), i, rec) {
		if (day_of(rec, "date", &d) == 0 && d <= day && (!best || d >= best_day)) {
			best = rec;
			best_day = d;
		}
	}
	return best ? str(best, "phase") : NULL;
}

/* In the programme on `day`: in sheltered housing, back in it, or in a
 * protected home (not yet a regular tenant). */
static int in_programme(struct report *r, const char *client, int64_t day)
{
	const char *p = phase_on(r, client, day);
	return p && (strcmp(p, "beschermd_wonen") == 0 || strcmp(p, "beschermd_thuis") == 0 ||
	             strcmp(p, "terug_beschermd_wonen") == 0);
}

static int sheltered(const char *phase)
{
	return phase && (strcmp(phase, "beschermd_wonen") == 0 ||
	                 strcmp(phase, "terug_beschermd_wonen") == 0);
}

/* ---- agreement 1: no evictions -------------------------------------------------- */

static const char *const ladder[] = {"reminder", "payment_plan", "corporation_meeting",
                                     "summons", "judgment", "eviction_date",
                                     "eviction_prevented", "eviction_carried_out"};
static const char *const ladder_nl[] = {"aanmaning", "betalingsregeling", "gesprek corporatie",
                                        "dagvaarding", "vonnis", "ontruimingsdatum",
                                        "ontruiming voorkomen", "ontruiming uitgevoerd"};
static const char *const ladder_en[] = {"reminder", "payment plan", "meeting with the corporation",
                                        "summons", "judgment", "eviction date",
                                        "eviction prevented", "eviction carried out"};

static int ladder_rank(const char *step)
{
	for (size_t i = 0; step && i < COUNT(ladder); i++)
		if (strcmp(ladder[i], step) == 0)
			return (int)i;
	return -1;
}

/* Size buckets of open arrears, in whole euros (upper bounds; the last is
 * "unknown": an escalation without an amount). */
static const struct {
	const char *code, *nl, *en;
	int64_t below;
} buckets[] = {
	{"lt500", "minder dan € 500", "under € 500", 500},
	{"500-999", "€ 500 - 999", "€ 500 - 999", 1000},
	{"1000-2499", "€ 1.000 - 2.499", "€ 1,000 - 2,499", 2500},
	{"ge2500", "€ 2.500 of meer", "€ 2,500 or more", INT64_MAX},
	{"unknown", "bedrag onbekend", "amount unknown", -1},
};

/* An escalation of rent arrears as it stood on `day`: open (it had a step
 * by then, and was not stopped or closed with its last step by then), and
 * the highest step of the ladder reached. */
static int arrears_open_on(struct report *r, json_t *esc, int64_t day, int *reached)
{
	int64_t first = INT64_MAX, last = INT64_MIN, d;
	json_t *step;
	size_t i;
	*reached = -1;
	json_array_foreach(of_client(r, "escalation_step", str(esc, "client")), i, step) {
		if (!is(step, "escalation", str(esc, "id")) || day_of(step, "date", &d) != 0)
			continue;
		last = d > last ? d : last;
		if (d > day)
			continue;
		first = d < first ? d : first;
		if (ladder_rank(str(step, "step")) > *reached)
			*reached = ladder_rank(str(step, "step"));
	}
	if (first == INT64_MAX)
		return 0;
	return !((is(esc, "status", "stopped") || is(esc, "status", "closed")) && last <= day);
}


static int bucket_of(int unknown, int64_t sum)
{
	if (unknown)
		return (int)COUNT(buckets) - 1;
	for (size_t i = 0; i + 2 < COUNT(buckets); i++)
		if (sum < buckets[i].below)
			return (int)i;
	return (int)COUNT(buckets) - 2;
}

/* Open rent arrears on the as-of day of quarter q, per client: the sum of
 * its open escalations' amounts (unknown if one has none) and the highest
 * step any of them reached. */
static void arrears_quarter(struct report *r, int q, long total, long size0, long step0)
{
	const char *client;
	json_t *escs, *esc;
	size_t i;
	int64_t n = 0, by_size[COUNT(buckets)] = {0}, by_step[COUNT(ladder)] = {0};
	json_object_foreach(json_object_get(r->by_client, "escalation"), client, escs) {
		int64_t sum = 0;
		int open = 0, unknown = 0, top = 0, reached;
		json_array_foreach(escs, i, esc) {
			json_t *amount = json_object_get(esc, "amount");
			if (!is(esc, "about", "rent_arrears") ||
			    !arrears_open_on(r, esc, r->q[q].asof, &reached))
				continue;
			open = 1;
			top = reached > top ? reached : top;
			if (json_is_integer(amount))
				sum += json_integer_value(amount);
			else
				unknown = 1;
		}
		if (!open)
			continue;
		n++;
		by_size[bucket_of(unknown, sum)]++;
		by_step[top]++;
	}
	set(r, total, q, count_cell(n));
	for (i = 0; i < COUNT(buckets); i++)
		set(r, size0 + (long)i, q, count_cell(by_size[i]));
	for (i = 0; i < COUNT(ladder); i++)
		set(r, step0 + (long)i, q, count_cell(by_step[i]));
}

/* Clients evicted (or whose eviction was prevented) in the quarter: a
 * step of that name dated in it, and for evictions also a tenancy that
 * ended in it with the reason "evicted". */
static int64_t eviction_clients(struct report *r, int q, const char *step_name, int tenancies)
{
	const struct quarter *Q = &r->q[q];
	json_t *seen = json_object(), *rec;
	int64_t d, n;
	size_t i;
	json_array_foreach(all_of(r, "escalation_step"), i, rec) {
		if (is(rec, "step", step_name) && day_of(rec, "date", &d) == 0 &&
		    in_range(d, Q->start, Q->asof))
			json_object_set_new(seen, str(rec, "client"), json_true());
	}
	json_array_foreach(tenancies ? all_of(r, "tenancy") : NULL, i, rec) {
		if (is(rec, "end_reason", "evicted") && day_of(rec, "end", &d) == 0 &&
		    in_range(d, Q->start, Q->asof))
			json_object_set_new(seen, str(rec, "client"), json_true());
	}
	n = (int64_t)json_object_size(seen);
	json_decref(seen);
	return n;
}

/* The first contact with the client on or after `from` and by `to`: a
 * home visit, a phone call or outreach that took place. */
static int first_contact(struct report *r, const char *client, int64_t from, int64_t to,
                         int64_t *day)
{
	json_t *v;
	size_t i;
	int found = 0;
	json_array_foreach(of_client(r, "visit", client), i, v) {
		int64_t d;
		if (!is(v, "kind", "home_visit") && !is(v, "kind", "phone") && !is(v, "kind", "outreach"))
			continue;
		if (day_of(v, "started", &d) != 0 && day_of(v, "ended", &d) != 0)
			continue;
		if (in_range(d, from, to) && (!found || d < *day)) {
			*day = d;
			found = 1;
		}
	}
	return found;
}

/* Rent-arrears signals raised in the quarter (the day they were recorded)
 * and the days to the first contact after each, by the as-of day. The
 * median is shown over signals of at least BASE_MIN clients: ten signals
 * of one client are one person's figures. */
static int signals_quarter(struct report *r, int q, long all, long without, long median_row)
{
	const struct quarter *Q = &r->q[q];
	json_t *sigs = all_of(r, "signal"), *sg, *clients = json_object();
	double *days = calloc(json_array_size(sigs) + 1, sizeof *days);
	size_t i, n = 0, none = 0;
	if (!days || !clients) {
		free(days);
		json_decref(clients);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	json_array_foreach(sigs, i, sg) {
		int64_t raised, contact = 0;
		if (!is(sg, "kind", "rent_arrears") || day_of(sg, "created", &raised) != 0 ||
		    !in_range(raised, Q->start, Q->asof))
			continue;
		if (first_contact(r, str(sg, "client"), raised, Q->asof, &contact)) {
			days[n++] = (double)(contact - raised);
			json_object_set(clients, str(sg, "client"), json_true());
		} else
			none++;
	}
	set(r, all, q, count_cell((int64_t)(n + none)));
	set(r, without, q, count_cell((int64_t)none));
	set(r, median_row, q, stat_cell(median(days, n), json_object_size(clients)));
	free(days);
	json_decref(clients);
	return VELD_OK;
}

static int section_evictions(struct report *r)
{
	long total, size0, step0, carried, prevented, sig, without, med;
	int rc = rows_reserve(r, 6 + COUNT(buckets) + COUNT(ladder));
	if (rc != VELD_OK)
		return rc;
	total = row(r, S_EVICTIONS, "arrears_clients");
	size0 = (long)r->nrows;
	for (size_t i = 0; i < COUNT(buckets); i++)
		row_add(r, S_EVICTIONS, "arrears_by_size", buckets[i].code, buckets[i].nl, buckets[i].en, 1);
	step0 = (long)r->nrows;
	for (size_t i = 0; i < COUNT(ladder); i++)
		row_add(r, S_EVICTIONS, "arrears_by_step", ladder[i], ladder_nl[i], ladder_en[i], 1);
	carried = row(r, S_EVICTIONS, "evictions_carried_out");
	prevented = row(r, S_EVICTIONS, "evictions_prevented");
	sig = row(r, S_EVICTIONS, "arrears_signals");
	without = row(r, S_EVICTIONS, "arrears_signals_without_contact");
	med = row(r, S_EVICTIONS, "signal_to_contact_days");
	for (int q = 0; rc == VELD_OK && q < QUARTERS; q++) {
		arrears_quarter(r, q, total, size0, step0);
		set(r, carried, q, count_cell(eviction_clients(r, q, "eviction_carried_out", 1)));
		set(r, prevented, q, count_cell(eviction_clients(r, q, "eviction_prevented", 0)));
		rc = signals_quarter(r, q, sig, without, med);
	}
	/* Twice: hiding a total for one breakdown changes the other. */
	for (int pass = 0; pass < 2; pass++) {
		protect_run(r, total, size0, COUNT(buckets));
		protect_run(r, total, step0, COUNT(ladder));
	}
	protect_part(r, sig, without);
	return rc;
}

/* ---- agreement 2: day activities in the neighbourhood ---------------------------- */

/* A record that runs on `day`: begun by then (its start, else the day it
 * was recorded) and not ended before it. */
static int runs_on(json_t *rec, const char *start, const char *end, int64_t day)
{
	int64_t from, to;
	if (day_of(rec, start, &from) != 0 && day_of(rec, "created", &from) != 0)
		return 0;
	return from <= day && (day_of(rec, end, &to) != 0 || to >= day);
}

static int64_t programme_count(struct report *r, int64_t day)
{
	const char *client;
	json_t *v;
	int64_t n = 0;
	json_object_foreach(json_object_get(r->by_client, "phase"), client, v)
		n += in_programme(r, client, day);
	return n;
}

static int section_day_activity(struct report *r, long programme)
{
	long with, share, local, local_share;
	int rc = rows_reserve(r, 4);
	if (rc != VELD_OK)
		return rc;
	with = row(r, S_DAY_ACTIVITY, "day_activity_clients");
	share = row(r, S_DAY_ACTIVITY, "day_activity_share");
	local = row(r, S_DAY_ACTIVITY, "day_activity_local");
	local_share = row(r, S_DAY_ACTIVITY, "day_activity_local_share");
	for (int q = 0; q < QUARTERS; q++) {
		int64_t day = r->q[q].asof, n = 0, near = 0;
		const char *client;
		json_t *acts, *a;
		size_t i;
		json_object_foreach(json_object_get(r->by_client, "day_activity"), client, acts) {
			int any = 0, here = 0;
			if (!in_programme(r, client, day))
				continue;
			json_array_foreach(acts, i, a) {
				if (!runs_on(a, "start", "end", day))
					continue;
				any = 1;
				here |= json_is_true(json_object_get(a, "in_neighbourhood"));
			}
			n += any;
			near += here;
		}
		set(r, with, q, count_cell(n));
		set(r, local, q, count_cell(near));
	}
	protect_part(r, programme, with);
	protect_part(r, with, local);
	protect_part(r, programme, with);
	for (int q = 0; q < QUARTERS; q++) {
		set(r, share, q, share_cell(&r->rows[with].c[q], &r->rows[programme].c[q]));
		set(r, local_share, q, share_cell(&r->rows[local].c[q], &r->rows[with].c[q]));
	}
	return VELD_OK;
}

/* ---- agreement 3: a fixed contact person with a budget --------------------------- */

/* The client's contact person on `day` (the record), or NULL. */
static json_t *contact_on(struct report *r, const char *client, int64_t day)
{
	json_t *cp, *best = NULL;
	int64_t from, best_from = 0;
	size_t i;
	json_array_foreach(of_client(r, "contact_person", client), i, cp) {
		if (!runs_on(cp, "from", "to", day) || day_of(cp, "from", &from) != 0)
			continue;
		if (!best || from >= best_from) {
			best = cp;
			best_from = from;
		}
	}
	return best;
}

/* Handovers in the quarter: a contact person whose `from` falls in it,
 * of a client who had one with an earlier `from`. */
static int64_t contact_changes(struct report *r, int q)
{
	const char *client;
	json_t *cps, *a, *b;
	size_t i, j;
	int64_t n = 0;
	json_object_foreach(json_object_get(r->by_client, "contact_person"), client, cps) {
		json_array_foreach(cps, i, a) {
			int64_t da, db;
			int earlier = 0;
			if (day_of(a, "from", &da) != 0 || !in_range(da, r->q[q].start, r->q[q].asof))
				continue;
			json_array_foreach(cps, j, b)
				earlier |= j != i && day_of(b, "from", &db) == 0 && db < da;
			n += earlier;
		}
	}
	return n;
}

/* Days of the quarter (by the as-of day) each client in the programme
 * spent without a contact person: their number, and how many clients had
 * any. */
static void days_without(struct report *r, int q, int64_t *days, int64_t *clients)
{
	const char *client;
	json_t *v;
	*days = *clients = 0;
	json_object_foreach(json_object_get(r->by_client, "phase"), client, v) {
		int64_t n = 0;
		for (int64_t d = r->q[q].start; d <= r->q[q].asof; d++)
			n += in_programme(r, client, d) && !contact_on(r, client, d);
		*days += n;
		*clients += n > 0;
	}
}

/* Per team: clients in the programme on the as-of day of quarter q, and
 * the hours granted and spent of their contact persons then. */
struct team_sum {
	const char *team;
	int64_t clients[QUARTERS], granted[QUARTERS], spent[QUARTERS];
	int64_t holders[QUARTERS]; /* of the clients, those with a contact person: the base */
	int shown; /* >= BASE_MIN clients in some quarter */
};

static struct team_sum *team_sums(struct report *r, size_t *n)
{
	size_t cap = json_object_size(r->team_of) + 1, i;
	struct team_sum *t = calloc(cap, sizeof *t);
	const char *client;
	json_t *team;
	*n = 0;
	if (!t)
		return NULL;
	json_object_foreach(r->team_of, client, team) {
		for (i = 0; i < *n && strcmp(t[i].team, json_string_value(team)) != 0; i++)
			;
		if (i == *n)
			t[(*n)++].team = json_string_value(team);
		for (int q = 0; q < QUARTERS; q++) {
			json_t *cp;
			if (!in_programme(r, client, r->q[q].asof))
				continue;
			t[i].clients[q]++;
			if ((cp = contact_on(r, client, r->q[q].asof))) {
				t[i].holders[q]++;
				t[i].granted[q] += json_integer_value(json_object_get(cp, "budget_hours_granted"));
				t[i].spent[q] += json_integer_value(json_object_get(cp, "budget_hours_spent"));
			}
			t[i].shown |= t[i].clients[q] >= BASE_MIN;
		}
	}
	return t;
}

static int by_team(const void *a, const void *b)
{
	return strcmp(((const struct team_sum *)a)->team, ((const struct team_sum *)b)->team);
}

/* Hours granted or spent (`spent`): a row per team of at least BASE_MIN
 * clients, the smaller teams together, and all teams. A team under
 * BASE_MIN in a quarter counts with the smaller ones then. A sum is of the
 * contact persons' records, so its base is the clients that have one: a
 * sum over fewer than BASE_MIN of them is not shown, and when the cells not
 * shown are of 1 to BASE_MIN - 1 such clients together, the total is
 * hidden too (it would give their sum back). */
static void budget_rows(struct report *r, struct team_sum *t, size_t n, int spent)
{
	const char *id = spent ? "budget_hours_spent" : "budget_hours_granted";
	long total = row(r, S_CONTACT_PERSON, id), first = (long)r->nrows, other;
	int any_small = 0;
	for (size_t i = 0; i < n; i++)
		if (t[i].shown)
			row_add(r, S_CONTACT_PERSON, id, t[i].team, NULL, NULL, 1);
	for (size_t i = 0; i < n; i++)
		for (int q = 0; q < QUARTERS; q++)
			any_small |= t[i].clients[q] > 0 && t[i].clients[q] < BASE_MIN;
	other = any_small ? row_add(r, S_CONTACT_PERSON, id, "other", "overige teams",
	                            "other teams", 1) : -1;
	for (int q = 0; q < QUARTERS; q++) {
		int64_t all = 0, all_n = 0, rest = 0, rest_n = 0, unshown = 0;
		long k = first;
		for (size_t i = 0; i < n; i++) {
			int64_t h = spent ? t[i].spent[q] : t[i].granted[q], base = t[i].holders[q];
			all += h;
			all_n += base;
			if (t[i].clients[q] < BASE_MIN) {
				rest += h;
				rest_n += base;
			} else if (base < BASE_MIN) {
				unshown += base;
			}
			if (t[i].shown)
				set(r, k++, q, t[i].clients[q] >= BASE_MIN
				                       ? stat_cell((double)h, (size_t)base)
				                       : (struct cell){CELL_NONE, 0});
		}
		set(r, total, q, stat_cell((double)all, (size_t)all_n));
		if (other >= 0)
			set(r, other, q, rest_n ? stat_cell((double)rest, (size_t)rest_n)
			                        : (struct cell){CELL_VALUE, 0});
		unshown += rest_n < BASE_MIN ? rest_n : 0;
		if (unshown > 0 && unshown < BASE_MIN && unshown < all_n &&
		    r->rows[total].c[q].st == CELL_VALUE)
			r->rows[total].c[q].st = CELL_HIDDEN;
	}
}

static int section_contact_person(struct report *r, long programme)
{
	long with, share, changes, without_n, without_days;
	size_t nteams;
	struct team_sum *t = team_sums(r, &nteams);
	int rc = t ? rows_reserve(r, 5 + 2 * (nteams + 2)) : veld__err(VELD_ENOMEM, "out of memory");
	if (rc != VELD_OK) {
		free(t);
		return rc;
	}
	qsort(t, nteams, sizeof *t, by_team);
	with = row(r, S_CONTACT_PERSON, "contact_person_clients");
	share = row(r, S_CONTACT_PERSON, "contact_person_share");
	changes = row(r, S_CONTACT_PERSON, "contact_person_changes");
	without_n = row(r, S_CONTACT_PERSON, "clients_without_contact_person");
	without_days = row(r, S_CONTACT_PERSON, "days_without_contact_person");
	for (int q = 0; q < QUARTERS; q++) {
		const char *client;
		json_t *v;
		int64_t n = 0, days, clients;
		json_object_foreach(json_object_get(r->by_client, "phase"), client, v)
			n += in_programme(r, client, r->q[q].asof) && contact_on(r, client, r->q[q].asof);
		set(r, with, q, count_cell(n));
		set(r, changes, q, count_cell(contact_changes(r, q)));
		days_without(r, q, &days, &clients);
		set(r, without_n, q, count_cell(clients));
		set(r, without_days, q, clients ? stat_cell((double)days, (size_t)clients)
		                                : (struct cell){CELL_VALUE, 0});
	}
	protect_part(r, programme, with);
	for (int q = 0; q < QUARTERS; q++)
		set(r, share, q, share_cell(&r->rows[with].c[q], &r->rows[programme].c[q]));
	budget_rows(r, t, nteams, 0);
	budget_rows(r, t, nteams, 1);
	free(t);
	return VELD_OK;
}

/* ---- agreement 4: the standing care decision -------------------------------------- */

/* Clients with a standing decision running on the as-of day, and of those
 * the ones whose decision ends within EXPIRING_DAYS after it with no newer
 * decision (a later start) to follow it. */
static void decisions_quarter(struct report *r, int q, int64_t *active, int64_t *expiring)
{
	int64_t day = r->q[q].asof;
	const char *client;
	json_t *list, *w, *x;
	size_t i, j;
	*active = *expiring = 0;
	json_object_foreach(json_object_get(r->by_client, "waakvlam"), client, list) {
		int on = 0, ends = 0;
		json_array_foreach(list, i, w) {
			int64_t start, end, later;
			int renewed = 0;
			if (day_of(w, "start", &start) != 0 || !runs_on(w, "start", "end", day))
				continue;
			on = 1;
			json_array_foreach(list, j, x)
				renewed |= day_of(x, "start", &later) == 0 && later > start;
			ends |= day_of(w, "end", &end) == 0 && end > day && end <= day + EXPIRING_DAYS &&
			        !renewed;
		}
		*active += on;
		*expiring += on && ends;
	}
}

static int section_standing_decision(struct report *r)
{
	long active, expiring, uses, med;
	json_t *list = all_of(r, "waakvlam_use"), *u;
	double *days = calloc(json_array_size(list) + 1, sizeof *days);
	int rc = days ? rows_reserve(r, 4) : veld__err(VELD_ENOMEM, "out of memory");
	if (rc != VELD_OK) {
		free(days);
		return rc;
	}
	active = row(r, S_STANDING_DECISION, "standing_decisions_active");
	expiring = row(r, S_STANDING_DECISION, "standing_decisions_expiring");
	uses = row(r, S_STANDING_DECISION, "standing_decision_uses");
	med = row(r, S_STANDING_DECISION, "relapse_to_care_days");
	for (int q = 0; q < QUARTERS; q++) {
		int64_t a, e, n = 0;
		size_t i, m = 0;
		decisions_quarter(r, q, &a, &e);
		set(r, active, q, count_cell(a));
		set(r, expiring, q, count_cell(e));
		json_array_foreach(list, i, u) {
			int64_t relapse, care;
			if (day_of(u, "relapse_date", &relapse) != 0 ||
			    !in_range(relapse, r->q[q].start, r->q[q].asof))
				continue;
			n++;
			if (day_of(u, "care_started", &care) == 0 && care >= relapse && care <= r->q[q].asof)
				days[m++] = (double)(care - relapse);
		}
		set(r, uses, q, count_cell(n));
		set(r, med, q, stat_cell(median(days, m), m));
	}
	protect_part(r, active, expiring);
	free(days);
	return VELD_OK;
}

/* ---- agreement 5: rent and benefit continue during a time-out --------------------- */

static const char *const time_out_flags[] = {"rent_continued", "benefit_continued",
                                             "corporation_informed"};

static int section_time_out(struct report *r)
{
	static const char *const counts[] = {"time_out_rent_continued", "time_out_benefit_continued",
	                                     "time_out_corporation_informed"};
	static const char *const shares[] = {"time_out_rent_continued_share",
	                                     "time_out_benefit_continued_share",
	                                     "time_out_corporation_informed_share"};
	long started, ended, running, cnt[3], shr[3];
	int rc = rows_reserve(r, 3 + 2 * COUNT(counts));
	if (rc != VELD_OK)
		return rc;
	started = row(r, S_TIME_OUT, "time_outs_started");
	ended = row(r, S_TIME_OUT, "time_outs_ended");
	running = row(r, S_TIME_OUT, "time_outs_running");
	for (size_t k = 0; k < COUNT(counts); k++) {
		cnt[k] = row_add(r, S_TIME_OUT, counts[k], NULL, NULL, NULL, 1);
		shr[k] = row(r, S_TIME_OUT, shares[k]);
	}
	for (int q = 0; q < QUARTERS; q++) {
		const struct quarter *Q = &r->q[q];
		int64_t s = 0, e = 0, n = 0, flag[3] = {0};
		json_t *t;
		size_t i;
		json_array_foreach(all_of(r, "time_out"), i, t) {
			int64_t start, end;
			int has_end = day_of(t, "end", &end) == 0;
			if (day_of(t, "start", &start) != 0 || start > Q->asof)
				continue;
			s += start >= Q->start;
			e += has_end && in_range(end, Q->start, Q->asof);
			if (has_end && end < Q->start)
				continue; /* over before the quarter */
			n++;
			for (size_t k = 0; k < COUNT(time_out_flags); k++)
				flag[k] += json_is_true(json_object_get(t, time_out_flags[k]));
		}
		set(r, started, q, count_cell(s));
		set(r, ended, q, count_cell(e));
		set(r, running, q, count_cell(n));
		for (size_t k = 0; k < COUNT(counts); k++)
			set(r, cnt[k], q, count_cell(flag[k]));
	}
	/* The quarters side by side are a sum too: the time-outs running in
	 * one quarter are those running in the one before, less those that
	 * ended in it, plus those started in this one. Protected with the
	 * flags until nothing more is hidden (hiding only ever adds). */
	for (int pass = 0; pass < 2 * QUARTERS; pass++) {
		for (int q = 1; q < QUARTERS; q++) {
			struct cell *parts[3] = {&r->rows[running].c[q], &r->rows[ended].c[q - 1],
			                         &r->rows[started].c[q]};
			protect_cells(&r->rows[running].c[q - 1], parts, 3, -1);
		}
		for (size_t k = 0; k < COUNT(counts); k++)
			protect_part(r, running, cnt[k]);
	}
	for (size_t k = 0; k < COUNT(counts); k++) {
		for (int q = 0; q < QUARTERS; q++)
			set(r, shr[k], q, share_cell(&r->rows[cnt[k]].c[q], &r->rows[running].c[q]));
	}
	return VELD_OK;
}

/* ---- ZRM progress per life domain ------------------------------------------------ */

/* English labels of the ZRM 2017 domains; the store's labels are Dutch. A
 * code not here is shown with its Dutch label in English too. */
static const char *const zrm_en[][2] = {
	{"financien", "Finances"}, {"werk_opleiding", "Work & education"},
	{"tijdsbesteding", "Use of time"}, {"huisvesting", "Housing"},
	{"huiselijke_relaties", "Domestic relations"}, {"geestelijke_gezondheid", "Mental health"},
	{"lichamelijke_gezondheid", "Physical health"}, {"middelengebruik", "Substance use"},
	{"basale_adl", "Basic ADL"}, {"instrumentele_adl", "Instrumental ADL"},
	{"sociaal_netwerk", "Social network"},
	{"maatschappelijke_participatie", "Participation in society"}, {"justitie", "Justice"},
};

static const char *zrm_label_en(const char *code, const char *nl)
{
	for (size_t i = 0; i < COUNT(zrm_en); i++)
		if (strcmp(zrm_en[i][0], code) == 0)
			return zrm_en[i][1];
	return nl;
}

/* A day's month count and day of month, to compare whole months. */
static int64_t months_of(int64_t day, unsigned *mday)
{
	char date[11];
	veld__date_of_day(date, day);
	*mday = (unsigned)atoi(date + 8);
	return (int64_t)atoi(date) * 12 + atoi(date + 5) - 1;
}

/* The change in `code` of one client by `asof`: its first score and its
 * latest, when the latest is at least ZRM_MONTHS months after the first.
 * 0 with *change set, or -1 when the client was not measured so. */
static int zrm_change(struct report *r, const char *client, const char *code, int64_t asof,
                      int64_t *change)
{
	json_t *v, *score, *first = NULL, *last = NULL;
	int64_t d, first_day = 0, last_day = 0, m1, m2;
	unsigned d1, d2;
	size_t i;
	json_array_foreach(of_client(r, "visit", client), i, v) {
		score = json_object_get(json_object_get(v, "scores"), code);
		if (!json_is_integer(score) || visit_day(v, &d) != 0 || d > asof)
			continue;
		if (!first || d < first_day) {
			first = score;
			first_day = d;
		}
		if (!last || d >= last_day) {
			last = score;
			last_day = d;
		}
	}
	if (!first)
		return -1;
	m1 = months_of(first_day, &d1);
	m2 = months_of(last_day, &d2);
	if (m2 - m1 < ZRM_MONTHS || (m2 - m1 == ZRM_MONTHS && d2 < d1))
		return -1;
	*change = json_integer_value(last) - json_integer_value(first);
	return 0;
}

/* The rows of one domain: clients measured, mean change, and how many
 * improved, stayed the same and got worse (counts behind the shares). */
static void zrm_domain(struct report *r, const char *code, const char *nl)
{
	static const char *const parts[] = {"zrm_improved", "zrm_same", "zrm_worse"};
	static const char *const shares[] = {"zrm_improved_share", "zrm_same_share",
	                                     "zrm_worse_share"};
	const char *en = zrm_label_en(code, nl);
	long measured = row_add(r, S_ZRM, "zrm_clients", code, nl, en, 1);
	long mean = row_add(r, S_ZRM, "zrm_mean_change", code, nl, en, 1), cnt[3], shr[3];
	for (size_t k = 0; k < COUNT(parts); k++) {
		shr[k] = row_add(r, S_ZRM, shares[k], code, nl, en, 1);
		cnt[k] = row_add(r, S_ZRM, parts[k], code, nl, en, 0);
	}
	for (int q = 0; q < QUARTERS; q++) {
		const char *client;
		json_t *v;
		int64_t n = 0, sum = 0, change, way[3] = {0};
		json_object_foreach(json_object_get(r->by_client, "visit"), client, v) {
			if (zrm_change(r, client, code, r->q[q].asof, &change) != 0)
				continue;
			n++;
			sum += change;
			way[change > 0 ? 0 : change == 0 ? 1 : 2]++;
		}
		set(r, measured, q, count_cell(n));
		set(r, mean, q, stat_cell(n ? round_to((double)sum / (double)n, 100) : 0, (size_t)n));
		for (size_t k = 0; k < COUNT(parts); k++)
			set(r, cnt[k], q, count_cell(way[k]));
	}
	for (int q = 0; q < QUARTERS; q++) {
		struct row *p[3] = {&r->rows[cnt[0]], &r->rows[cnt[1]], &r->rows[cnt[2]]};
		struct cell *up = &r->rows[cnt[0]].c[q], *down = &r->rows[cnt[2]].c[q];
		protect(&r->rows[measured], p, 3, -1, q);
		/* With no one changed the other way, the mean times the clients is
		 * the sum of one sign's changes, and that bounds (at 1, pins) how
		 * many changed that way: hidden with their count. */
		if ((hidden(up) && down->st == CELL_VALUE && down->v == 0) ||
		    (hidden(down) && up->st == CELL_VALUE && up->v == 0))
			if (r->rows[mean].c[q].st == CELL_VALUE)
				r->rows[mean].c[q].st = CELL_HIDDEN;
		for (size_t k = 0; k < COUNT(parts); k++)
			set(r, shr[k], q, share_cell(&r->rows[cnt[k]].c[q], &r->rows[measured].c[q]));
	}
}

/* Every domain of the ZRM version in force for new visits, in its order. */
static int section_zrm(struct report *r)
{
	json_t *list = json_object_get(r->domains, VELD_ZRM_DEFAULT), *d;
	size_t i;
	int rc = rows_reserve(r, 8 * json_array_size(list));
	if (rc != VELD_OK)
		return rc;
	json_array_foreach(list, i, d)
		zrm_domain(r, json_string_value(json_array_get(d, 0)),
		           json_string_value(json_array_get(d, 1)));
	return VELD_OK;
}

/* ---- flow ------------------------------------------------------------------------ */

/* Clients with a phase change into `to` in the quarter; with `from_sheltered`
 * only those whose phase before it was (back in) sheltered housing. */
static int64_t phase_moves(struct report *r, int q, const char *to, int from_sheltered)
{
	json_t *seen = json_object(), *p;
	int64_t d, n;
	size_t i;
	json_array_foreach(all_of(r, "phase"), i, p) {
		if (!is(p, "phase", to) || day_of(p, "date", &d) != 0 ||
		    !in_range(d, r->q[q].start, r->q[q].asof))
			continue;
		if (from_sheltered && !sheltered(phase_on(r, str(p, "client"), d - 1)))
			continue;
		json_object_set_new(seen, str(p, "client"), json_true());
	}
	n = (int64_t)json_object_size(seen);
	json_decref(seen);
	return n;
}

static const char *const end_reasons[] = {"moved", "evicted", "back_to_sheltered_housing",
                                          "deceased", "other"};
static const char *const end_reasons_nl[] = {"verhuisd", "huisuitzetting",
                                             "terug naar beschermd wonen", "overleden", "anders"};
static const char *const end_reasons_en[] = {"moved", "evicted", "back to sheltered housing",
                                             "deceased", "other"};

static int section_flow(struct report *r, long *programme)
{
	long out, own, ended, reason0, back;
	int rc = rows_reserve(r, 5 + COUNT(end_reasons));
	if (rc != VELD_OK)
		return rc;
	*programme = row(r, S_FLOW, "clients_in_programme");
	out = row(r, S_FLOW, "moved_out_sheltered");
	own = row(r, S_FLOW, "own_name_moves");
	back = row(r, S_FLOW, "back_to_sheltered");
	ended = row(r, S_FLOW, "tenancies_ended");
	reason0 = (long)r->nrows;
	for (size_t k = 0; k < COUNT(end_reasons); k++)
		row_add(r, S_FLOW, "tenancies_ended", end_reasons[k], end_reasons_nl[k],
		        end_reasons_en[k], 1);
	for (int q = 0; q < QUARTERS; q++) {
		int64_t n_own = 0, n_end = 0, by[COUNT(end_reasons)] = {0}, d;
		json_t *t, *seen = json_object();
		size_t i, k;
		json_array_foreach(all_of(r, "tenancy"), i, t) {
			if (day_of(t, "own_name_actual", &d) == 0 && in_range(d, r->q[q].start, r->q[q].asof))
				json_object_set_new(seen, str(t, "client"), json_true());
			if (day_of(t, "end", &d) != 0 || !in_range(d, r->q[q].start, r->q[q].asof))
				continue;
			n_end++;
			for (k = 0; k + 1 < COUNT(end_reasons) && !is(t, "end_reason", end_reasons[k]); k++)
				;
			by[k]++;
		}
		n_own = (int64_t)json_object_size(seen);
		json_decref(seen);
		set(r, *programme, q, count_cell(programme_count(r, r->q[q].asof)));
		set(r, out, q, count_cell(phase_moves(r, q, "beschermd_thuis", 1)));
		set(r, own, q, count_cell(n_own));
		set(r, back, q, count_cell(phase_moves(r, q, "terug_beschermd_wonen", 0)));
		set(r, ended, q, count_cell(n_end));
		for (k = 0; k < COUNT(end_reasons); k++)
			set(r, reason0 + (long)k, q, count_cell(by[k]));
	}
	protect_run(r, ended, reason0, COUNT(end_reasons));
	return VELD_OK;
}

/* ---- demand ---------------------------------------------------------------------- */

struct decision {
	int64_t day;
	int ready;
};

static int by_day(const void *a, const void *b)
{
	const struct decision *x = a, *y = b;
	return (x->day > y->day) - (x->day < y->day);
}

/* Since when the client has been ready to move on `asof`: the first of
 * the run of "ready" decisions that the latest decision ends. 0 with
 * *since set, or -1 if the latest decision by then is not "ready". */
static int ready_since(struct report *r, const char *client, int64_t asof, int64_t *since)
{
	json_t *list = of_client(r, "readiness", client), *x;
	struct decision *v = calloc(json_array_size(list) + 1, sizeof *v);
	size_t i, n = 0;
	int ready = 0;
	if (!v)
		return -1;
	json_array_foreach(list, i, x) {
		if (day_of(x, "date", &v[n].day) == 0 && v[n].day <= asof) {
			v[n].ready = is(x, "decision", "ready");
			n++;
		}
	}
	qsort(v, n, sizeof *v, by_day); /* stable enough: ties keep no meaning */
	for (i = 0; i < n; i++) {
		if (v[i].ready && !ready)
			*since = v[i].day;
		ready = v[i].ready;
	}
	free(v);
	return ready ? 0 : -1;
}

static int section_demand(struct report *r)
{
	long ready, med;
	json_t *list = json_object_get(r->by_client, "readiness"), *x;
	double *days = calloc(json_object_size(list) + 1, sizeof *days);
	int rc = days ? rows_reserve(r, 2) : veld__err(VELD_ENOMEM, "out of memory");
	if (rc != VELD_OK) {
		free(days);
		return rc;
	}
	ready = row(r, S_DEMAND, "ready_without_home");
	med = row(r, S_DEMAND, "waiting_days_median");
	for (int q = 0; q < QUARTERS; q++) {
		int64_t asof = r->q[q].asof, since = 0;
		const char *client;
		size_t n = 0;
		json_object_foreach(list, client, x) {
			if (sheltered(phase_on(r, client, asof)) && ready_since(r, client, asof, &since) == 0)
				days[n++] = (double)(asof - since);
		}
		set(r, ready, q, count_cell((int64_t)n));
		set(r, med, q, stat_cell(median(days, n), n));
	}
	free(days);
	return VELD_OK;
}

/* ---- data quality ------------------------------------------------------------------ */

/* Does the visit score every domain of its ZRM version? */
static int full_zrm(struct report *r, json_t *visit)
{
	const char *version = str(visit, "zrm_version");
	json_t *list = json_object_get(r->domains, version ? version : VELD_ZRM_DEFAULT), *d;
	json_t *scores = json_object_get(visit, "scores");
	size_t i;
	if (json_array_size(list) == 0)
		return 0;
	json_array_foreach(list, i, d) {
		if (!json_is_integer(json_object_get(scores, json_string_value(json_array_get(d, 0)))))
			return 0;
	}
	return 1;
}

/* When a device last sent something by the end of `end_ms`: its newest
 * operation or access-log entry, by its own clock. */
static int last_heard(struct report *r, const void *dev, int len, int64_t end_ms, int64_t *ms)
{
	sqlite3_stmt *op, *log;
	int64_t last_op = 0, last_log = 0;
	int rc;
	if ((rc = veld__sql(r->s, &report_tab, RP_LAST_OP, &op)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(op, 1, dev, len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(op, 2, (sqlite3_int64)(((uint64_t)end_ms << 16) | 0xffff));
	if ((rc = veld__sql_int64(op, &last_op, "reading the devices")) != VELD_OK ||
	    (rc = veld__sql(r->s, &report_tab, RP_LAST_LOG, &log)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(log, 1, dev, len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(log, 2, end_ms);
	if ((rc = veld__sql_int64(log, &last_log, "reading the devices")) != VELD_OK)
		return rc;
	last_op = (int64_t)veld__hlc_ms((uint64_t)last_op);
	*ms = last_op > last_log ? last_op : last_log;
	return VELD_OK;
}

/* Worker devices the office holds (certified, not revoked) that sent
 * nothing in the STALE_DAYS days up to the end of `day`; a device
 * enrolled within those days is not counted yet. */
static int stale_devices(struct report *r, int64_t day, int64_t *n)
{
	sqlite3_stmt *st;
	int64_t end_ms = (day + 1) * 86400000 - 1, since_ms = end_ms - STALE_DAYS * 86400000, last;
	int rc = veld__sql(r->s, &report_tab, RP_DEVICES, &st), step;
	*n = 0;
	if (rc != VELD_OK)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) > since_ms)
			continue;
		if ((rc = last_heard(r, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), end_ms,
		                     &last)) != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
		*n += last <= since_ms;
	}
	return veld__sql_done(st, step, "reading the devices");
}

static int section_data_quality(struct report *r)
{
	long visits, partial, conflicts, devices;
	int64_t n_conflicts = 0;
	sqlite3_stmt *st;
	int rc = rows_reserve(r, 4);
	if (rc == VELD_OK && (rc = veld__sql(r->s, &report_tab, RP_CONFLICTS, &st)) == VELD_OK)
		rc = veld__sql_int64(st, &n_conflicts, "counting the conflicts");
	if (rc != VELD_OK)
		return rc;
	visits = row(r, S_DATA_QUALITY, "home_visits");
	partial = row(r, S_DATA_QUALITY, "visits_without_full_zrm");
	conflicts = row(r, S_DATA_QUALITY, "open_conflicts");
	devices = row(r, S_DATA_QUALITY, "devices_not_synced");
	for (int q = 0; rc == VELD_OK && q < QUARTERS; q++) {
		int64_t n = 0, part = 0, d, stale;
		json_t *v;
		size_t i;
		json_array_foreach(all_of(r, "visit"), i, v) {
			if (!is(v, "kind", "home_visit") || visit_day(v, &d) != 0 ||
			    !in_range(d, r->q[q].start, r->q[q].asof))
				continue;
			n++;
			part += !full_zrm(r, v);
		}
		set(r, visits, q, count_cell(n));
		set(r, partial, q, count_cell(part));
		/* The store keeps no history of conflicts: only now is known. */
		if (r->q[q].current)
			set(r, conflicts, q, count_cell(n_conflicts));
		if ((rc = stale_devices(r, r->q[q].asof, &stale)) == VELD_OK)
			set(r, devices, q, count_cell(stale));
	}
	protect_part(r, visits, partial);
	return rc;
}

/* ---- the quarters ---------------------------------------------------------------- */

/* The period "YYYYQn" and the three quarters before it, oldest first, each
 * seen as on its last day or `today` while it runs. VELD_EINVAL for any
 * other text (the message does not repeat it) or a period not begun. */
static int quarters(const char *period, int64_t today, struct quarter q[QUARTERS])
{
	int year, n;
	if (!period || strlen(period) != 6 || strspn(period, "0123456789") != 4 || period[4] != 'Q' ||
	    period[5] < '1' || period[5] > '4')
		return veld__err(VELD_EINVAL, "the period is a quarter as YYYYQn, for example 2026Q4");
	year = atoi(period);
	n = period[5] - '1';
	if (year < 1901 || year > 2200)
		return veld__err(VELD_EINVAL, "the period's year must be from 1901 to 2200");
	for (int i = QUARTERS - 1; i >= 0; i--) {
		int next_y = n == 3 ? year + 1 : year, next_m = n == 3 ? 1 : 3 * (n + 1) + 1;
		snprintf(q[i].id, sizeof q[i].id, "%04dQ%d", year % 10000, (n + 1) % 10);
		q[i].start = veld__days_from_civil(year, (unsigned)(3 * n + 1), 1);
		q[i].end = veld__days_from_civil(next_y, (unsigned)next_m, 1) - 1;
		q[i].asof = q[i].end < today ? q[i].end : today;
		q[i].current = q[i].start <= today && today <= q[i].end;
		if (--n < 0) {
			n = 3;
			year--;
		}
	}
	if (q[QUARTERS - 1].start > today)
		return veld__err(VELD_EINVAL, "the period asked for has not begun yet");
	return VELD_OK;
}

/* ---- gathering ----------------------------------------------------------------- */

/* The records the figures read, with the fields they read only, of every
 * team. The access log gets one entry for the report, not one per client:
 * no client's record is shown. */
static int gather(struct report *r)
{
	json_t *clients = json_object();
	int rc = clients ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; rc == VELD_OK && i < COUNT(report_kinds); i++) {
		json_t *list = json_array();
		if (!list || json_object_set_new(r->records, report_kinds[i].kind, list) != 0)
			rc = veld__err(VELD_ENOMEM, "out of memory");
		else if (veld__kind_known(r->s, report_kinds[i].kind))
			rc = veld__list_records(r->s, report_kinds[i].kind, NULL, report_kinds[i].fields,
			                        list, clients);
	}
	json_decref(clients);
	return rc == VELD_OK ? index_records(r) : rc;
}

/* The life domains of every ZRM version: {version: [[code, label]...]}. */
static int load_domains(struct report *r)
{
	sqlite3_stmt *st;
	int rc = veld__sql(r->s, &report_tab, RP_DOMAINS, &st);
	if (rc != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *version = (const char *)sqlite3_column_text(st, 0);
		json_t *list = json_object_get(r->domains, version);
		if (!list)
			json_object_set_new(r->domains, version, list = json_array());
		json_array_append_new(list, json_pack("[s,s]", (const char *)sqlite3_column_text(st, 1),
		                                      (const char *)sqlite3_column_text(st, 2)));
	}
	return veld__sql_done(st, rc, "reading the life domains");
}

/* ---- the answer ------------------------------------------------------------------ */

static json_t *cell_json(const struct cell *c)
{
	switch (c->st) {
	case CELL_SMALL:
		return json_string("<5");
	case CELL_HIDDEN:
		return json_string("x");
	case CELL_VALUE:
		return c->v > -1e15 && c->v < 1e15 && c->v == (double)(long long)c->v ? json_integer((json_int_t)c->v)
		                                                : json_real(c->v);
	default:
		return json_null();
	}
}

static json_t *row_json(const struct row *w)
{
	const struct indicator *ind = indicator(w->id);
	json_t *values = json_array(), *o;
	for (int q = 0; q < QUARTERS; q++)
		json_array_append_new(values, cell_json(&w->c[q]));
	o = json_pack("{s:s,s:{s:s,s:s},s:s,s:o}", "id", w->id, "label", "nl", ind->nl, "en", ind->en,
	              "unit", ind->unit, "values", values);
	if (o && w->group)
		json_object_set_new(o, "group", json_string(w->group));
	if (o && w->group_nl)
		json_object_set_new(o, "group_label",
		                    json_pack("{s:s,s:s}", "nl", w->group_nl, "en", w->group_en));
	if (o && strcmp(w->id, "evictions_carried_out") == 0)
		json_object_set_new(o, "target", json_integer(0));
	return o;
}

static json_t *report_json(const struct report *r)
{
	json_t *doc = json_pack("{s:s,s:[ssss],s:[]}", "period", r->q[QUARTERS - 1].id, "quarters",
	                        r->q[0].id, r->q[1].id, r->q[2].id, r->q[3].id, "sections");
	json_t *secs = json_object_get(doc, "sections");
	for (size_t s = 0; doc && s < COUNT(sections); s++) {
		json_t *inds = json_array();
		for (size_t i = 0; i < r->nrows; i++)
			if (r->rows[i].section == (int)s && r->rows[i].emit)
				json_array_append_new(inds, row_json(&r->rows[i]));
		json_array_append_new(secs, json_pack("{s:s,s:{s:s,s:s},s:o}", "id", sections[s].id,
		                                      "title", "nl", sections[s].nl, "en", sections[s].en,
		                                      "indicators", inds));
	}
	return doc;
}

/* The sections in the order of the answer; flow first, since its count
 * of clients in the programme is the base of shares in others. */
static int compute(struct report *r)
{
	long programme = -1;
	int rc = load_domains(r);
	if (rc == VELD_OK)
		rc = gather(r);
	if (rc == VELD_OK)
		rc = section_flow(r, &programme);
	if (rc == VELD_OK)
		rc = section_evictions(r);
	if (rc == VELD_OK)
		rc = section_day_activity(r, programme);
	if (rc == VELD_OK)
		rc = section_contact_person(r, programme);
	if (rc == VELD_OK)
		rc = section_standing_decision(r);
	if (rc == VELD_OK)
		rc = section_time_out(r);
	if (rc == VELD_OK)
		rc = section_zrm(r);
	if (rc == VELD_OK)
		rc = section_demand(r);
	if (rc == VELD_OK)
		rc = section_data_quality(r);
	return rc;
}

int veld_office_report(veld_store *s, const char *period, char **json_out)
{
	struct report r = {.s = s};
	struct veld__tx tx;
	json_t *doc = NULL;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	r.today = (int64_t)(veld__hlc_now_ms() / 86400000u);
	if (!s->office)
		rc = veld__err(VELD_EPERM, "the partners' report is made in the office's store");
	else
		rc = quarters(period, r.today, r.q);
	if (rc != VELD_OK || (rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	r.records = json_object();
	r.by_client = json_object();
	r.team_of = json_object();
	r.domains = json_object();
	if (!r.records || !r.by_client || !r.team_of || !r.domains)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_OK)
		rc = compute(&r);
	if (rc == VELD_OK && !(doc = report_json(&r)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_OK)
		rc = veld__audit(s, "report", "success", NULL, "monitoring");
	if (rc == VELD_OK)
		rc = veld__json_answer(doc, json_out);
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	json_decref(r.records);
	json_decref(r.by_client);
	json_decref(r.team_of);
	json_decref(r.domains);
	json_decref(doc);
	free(r.rows);
	veld__leave(s);
	return rc;
}
