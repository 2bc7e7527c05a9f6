package query

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// CutExplain reports whether sqlText is EXPLAIN [ANALYZE] <statement>, and
// returns the statement. Comments and blanks before the keywords are
// skipped.
func CutExplain(sqlText string) (statement string, explain, analyze bool) {
	rest := skipBlank(sqlText)
	word := func(s string) (string, string) {
		i := 0
		for i < len(s) && (unicode.IsLetter(rune(s[i])) || s[i] == '_') {
			i++
		}
		return s[:i], s[i:]
	}
	w, after := word(rest)
	if !strings.EqualFold(w, "explain") {
		return sqlText, false, false
	}
	rest = skipBlank(after)
	if w, after := word(rest); strings.EqualFold(w, "analyze") || strings.EqualFold(w, "analyse") {
		return skipBlank(after), true, true
	}
	return rest, true, false
}

// skipBlank skips white space and SQL comments.
func skipBlank(s string) string {
	for {
		t := strings.TrimLeftFunc(s, unicode.IsSpace)
		switch {
		case strings.HasPrefix(t, "--"):
			if i := strings.IndexByte(t, '\n'); i >= 0 {
				s = t[i+1:]
				continue
			}
			return ""
		case strings.HasPrefix(t, "/*"):
			if i := strings.Index(t, "*/"); i >= 0 {
				s = t[i+2:]
				continue
			}
			return ""
		}
		return t
	}
}

// Explain renders the plan for people, one line per element: the mode and
// why, per table the files and bytes before and after pruning and the hot
// rows, per fragment its node, files and bytes (and with analyze its rows,
// time and cache hits), and the statements that ran.
func (p *Plan) Explain(analyze bool, rows int64, elapsed time.Duration) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	add("mode: %s", p.Mode)
	if p.Reason != "" {
		add("  why: %s", p.Reason)
	}
	for _, t := range p.Tables {
		name := t.Table
		if t.Ref >= 0 {
			name = fmt.Sprintf("%s (reference %d)", t.Table, t.Ref+1)
		}
		add("table %s: reads %d of %d files, %s of %s; %d hot rows at applied index %d", name, t.FilesRead, t.FilesTotal,
			byteSize(t.BytesRead), byteSize(t.BytesTotal), t.HotRows, t.AppliedIndex)
		if len(t.Predicates) > 0 {
			var ps []string
			for _, pr := range t.Predicates {
				ps = append(ps, pr.String())
			}
			add("  pruned by: %s", strings.Join(ps, " AND "))
		}
	}
	for _, f := range p.Fragments {
		line := fmt.Sprintf("fragment on %s: %d files, %s", f.Node, f.Files, byteSize(f.Bytes))
		if f.Attempts > 1 {
			line += fmt.Sprintf(", attempt %d", f.Attempts)
		}
		if s := f.Stats; s != nil && analyze {
			line += fmt.Sprintf("; %d rows out (%s), %v, %d of %d files cached", s.RowsOut, byteSize(s.BytesOut),
				(time.Duration(s.Micros) * time.Microsecond).Round(10*time.Microsecond), s.CacheHits, s.Files)
			if s.Chunks > 1 {
				line += fmt.Sprintf(", read in %d chunks", s.Chunks)
			}
		}
		if f.Error != "" {
			line += "; failed, files moved: " + f.Error
		}
		add("%s", line)
	}
	if p.Partial != "" {
		add("partial (every fragment; the hot rows on the coordinator): %s", p.Partial)
		add("final (coordinator): %s", p.Final)
	} else if p.SQL != "" {
		add("ran: %s", p.SQL)
	}
	if analyze {
		add("result: %d rows in %v", rows, elapsed.Round(10*time.Microsecond))
	}
	return out
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
