/*
 * validate.c - checking option values before they reach the store.
 *
 * The store validates records too; checking here gives a usage error that
 * names the option and lists what is allowed, before any passphrase is
 * asked for.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* A day of the calendar from 1800 on: it comes back the same from timegm,
 * which moves a day past the month's end (2025-02-30) to the next month. */
static bool calendar_day(int y, int m, int d)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	timegm(&tm);
	return y >= 1800 && tm.tm_year == y - 1900 && tm.tm_mon == m - 1 && tm.tm_mday == d;
}

/* YYYY-MM-DD at the start of s; returns the length matched (10) or 0. */
static size_t date_prefix(const char *s)
{
	if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
			s[7] != '-' || !digits(s + 8, 2))
		return 0;
	return calendar_day(num(s, 4), num(s + 5, 2), num(s + 8, 2)) ? 10 : 0;
}

bool cli_valid_date(const char *s)
{
	return date_prefix(s) == 10 && s[10] == '\0';
}

/* YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]; a space may stand for the T. */
bool cli_valid_time(const char *s)
{
	if (date_prefix(s) != 10 || (s[10] != 'T' && s[10] != ' '))
		return false;
	const char *p = s + 11;
	if (!digits(p, 2) || p[2] != ':' || !digits(p + 3, 2))
		return false;
	if (num(p, 2) > 23 || num(p + 3, 2) > 59)
		return false;
	p += 5;
	if (*p == ':') {
		if (!digits(p + 1, 2) || num(p + 1, 2) > 60)
			return false;
		p += 3;
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return false;
			while (isdigit((unsigned char)*p))
				p++;
		}
	}
	if (*p == 'Z')
		return p[1] == '\0';
	if (*p == '+' || *p == '-') {
		p++;
		if (!digits(p, 2) || num(p, 2) > 14)
			return false;
		p += 2;
		if (*p == ':')
			p++;
		if (!digits(p, 2) || num(p, 2) > 59)
			return false;
		return p[2] == '\0';
	}
	return *p == '\0';
}

void cli_now_utc(char *buf, size_t bufsize)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, bufsize, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *cli_today(char *buf, size_t bufsize)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, bufsize, "%Y-%m-%d", &tm);
	return buf;
}

const char *cli_time_arg(const char *s, char *buf, size_t bufsize)
{
	if (strcmp(s, "now") == 0) {
		cli_now_utc(buf, bufsize);
		return buf;
	}
	if (!cli_valid_time(s) || strlen(s) >= bufsize)
		return NULL;
	memcpy(buf, s, strlen(s) + 1);
	buf[10] = 'T'; /* "2026-11-22 10:00" is stored as 2026-11-22T10:00 */
	return buf;
}

int cli_yes_no(const char *s)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0)
		return 1;
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0)
		return 0;
	return -1;
}

bool cli_in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

const char *cli_join(const char *const *list, char *buf, size_t bufsize)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const char *const *p = list; *p != NULL; p++) {
		int n = snprintf(buf + used, bufsize - used, "%s%s", p == list ? "" : ", ", *p);
		if (n < 0 || (size_t)n >= bufsize - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

json_t *cli_split_list(const char *s)
{
	json_t *arr = json_array();
	if (arr == NULL)
		return NULL;
	const char *p = s;
	for (;;) {
		size_t n = strcspn(p, ",");
		/* trim spaces around an item: "a, b" is a natural way to type it */
		const char *b = p, *e = p + n;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e == b) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, json_stringn(b, (size_t)(e - b)));
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return arr;
}

bool cli_parse_int(const char *s, long long min, long long max, long long *out)
{
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}
