/*
Copyright 2026 The Agora Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package helm

// A checker for the PromQL of the Grafana dashboard (dashboard_test.go): it parses the subset of
// PromQL the dashboard uses (selectors, range selectors, functions, aggregations with by/without,
// binary operators with bool/on/ignoring/group_left/group_right) and, while parsing, checks every
// metric name and label name against what the binaries export, and works out which labels each
// expression's result carries, so that by(...), on(...), histogram_quantile's le and the legend's
// {{label}}s can be checked too. github.com/prometheus/prometheus's parser would be heavier than
// the whole module; what it would add (the full grammar) the dashboard does not use, and anything
// outside this subset is an error here rather than passing unchecked.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	agorav1alpha1 "github.com/agora-sched/agora/api/v1alpha1"
	"github.com/agora-sched/agora/pkg/allocator"
)

// exportedMetric is one metric family a binary exports: its label names and, where a scrape of
// the unused binary already shows it, its type ("" when only its descriptor is known).
type exportedMetric struct {
	labels map[string]bool
	typ    string
}

// scrapeTarget is what Prometheus scrapes under one job variable of the dashboard: the binary's
// metrics and the target labels the scrape adds (job, pod, ...).
type scrapeTarget struct {
	binary       string
	metrics      map[string]exportedMetric
	targetLabels []string
}

// promChecker checks expressions against the scrape targets, keyed by the dashboard variable
// that selects each one's job (e.g. "$controller_job").
type promChecker struct {
	targets map[string]scrapeTarget
}

// exprValue is what an expression yields: a scalar, a string, or a vector whose series carry
// labels. known is false when a mistake already reported left the labels unknown (no error
// cascades from it).
type exprValue struct {
	kind   valueKind
	labels map[string]bool
	known  bool
	// metric is the metric name of a plain selector (for the range functions' counter check).
	metric string
}

type valueKind int

const (
	scalarValue valueKind = iota
	stringValue
	vectorValue
	matrixValue
)

func vector(labels map[string]bool, known bool) exprValue {
	return exprValue{kind: vectorValue, labels: labels, known: known}
}

// check parses expr and returns its value with every mistake found.
func (c *promChecker) check(expr string) (exprValue, []error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return exprValue{}, []error{err}
	}
	p := &promParser{c: c, toks: toks}
	v := p.expr(0)
	if p.peek().kind != tokEOF {
		p.errorf("unexpected %q after the expression", p.peek().text)
	}
	return v, p.errs
}

// checkLegend: every {{label}} of a legend format is a label of the query's result.
func checkLegend(legend string, v exprValue) error {
	if !v.known || legend == "__auto" {
		return nil
	}
	for _, m := range regexp.MustCompile(`\{\{\s*([^}\s]*)\s*\}\}`).FindAllStringSubmatch(legend, -1) {
		if !v.labels[m[1]] {
			return fmt.Errorf("legend %q names {{%s}}, which the result does not carry (it has %v)", legend, m[1], sortedKeys(v.labels))
		}
	}
	return nil
}

// --- lexer

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokNumber
	tokString
	tokOp
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokComma
	tokRange // [...] with its inner text
)

type token struct {
	kind tokKind
	text string
}

var (
	identRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	numberRE = regexp.MustCompile(`^([0-9]*\.)?[0-9]+([eE][+-]?[0-9]+)?`)
	// A range is a duration, or one of Grafana's interval variables.
	rangeRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$|^\$__(rate_interval|interval|range)$|^\$\{__(rate_interval|interval|range)\}$`)
)

var punctuation = map[byte]tokKind{'(': tokLParen, ')': tokRParen, '{': tokLBrace, '}': tokRBrace, ',': tokComma}

func lexPromQL(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case punctuation[c] != 0:
			toks = append(toks, token{punctuation[c], string(c)})
			i++
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			toks = append(toks, token{tokRange, strings.TrimSpace(s[i+1 : i+end])})
			i += end + 1
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unclosed string at %d", i)
			}
			lit := s[i : j+1]
			if c == '\'' {
				lit = `"` + strings.ReplaceAll(lit[1:len(lit)-1], `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(lit)
			if err != nil {
				return nil, fmt.Errorf("string %s: %w", s[i:j+1], err)
			}
			toks = append(toks, token{tokString, v})
			i = j + 1
		case numberRE.MatchString(s[i:]) && (c >= '0' && c <= '9' || c == '.'):
			m := numberRE.FindString(s[i:])
			toks = append(toks, token{tokNumber, m})
			i += len(m)
		case identRE.MatchString(s[i:]):
			m := identRE.FindString(s[i:])
			toks = append(toks, token{tokIdent, m})
			i += len(m)
		default:
			op := ""
			for _, o := range []string{"==", "!=", ">=", "<=", "=~", "!~", "=", ">", "<", "+", "-", "*", "/", "%", "^"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			toks = append(toks, token{tokOp, op})
			i += len(op)
		}
	}
	return append(toks, token{kind: tokEOF}), nil
}

// --- parser

type promParser struct {
	c    *promChecker
	toks []token
	i    int
	errs []error
}

func (p *promParser) peek() token { return p.toks[p.i] }

func (p *promParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *promParser) errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// expect consumes a token of the kind, reporting anything else.
func (p *promParser) expect(kind tokKind, what string) bool {
	if p.peek().kind != kind {
		p.errorf("want %s, got %q", what, p.peek().text)
		return false
	}
	p.next()
	return true
}

var binaryPrecedence = map[string]int{
	"or": 1, "and": 2, "unless": 2,
	"==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3, ">": 3,
	"+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6,
}

func (p *promParser) binaryOp() (string, bool) {
	t := p.peek()
	if t.kind != tokOp && t.kind != tokIdent {
		return "", false
	}
	_, ok := binaryPrecedence[t.text]
	return t.text, ok
}

// expr parses a binary expression whose operators bind at least as tightly as minPrec.
func (p *promParser) expr(minPrec int) exprValue {
	lhs := p.unary()
	for {
		op, ok := p.binaryOp()
		if !ok || binaryPrecedence[op] < minPrec {
			return lhs
		}
		p.next()
		if p.peek().text == "bool" {
			p.next()
		}
		var on, ignoring, include []string
		matching, group := "", ""
		if t := p.peek().text; t == "on" || t == "ignoring" {
			p.next()
			matching = t
			if t == "on" {
				on = p.labelList()
			} else {
				ignoring = p.labelList()
			}
		}
		if t := p.peek().text; t == "group_left" || t == "group_right" {
			p.next()
			group = t
			if p.peek().kind == tokLParen {
				include = p.labelList()
			}
		}
		next := binaryPrecedence[op] + 1
		if op == "^" {
			next = binaryPrecedence[op] // right-associative
		}
		rhs := p.expr(next)
		lhs = p.combine(op, lhs, rhs, matching, on, ignoring, group, include)
	}
}

// combine checks a binary operation's operands and returns the labels of its result.
func (p *promParser) combine(op string, lhs, rhs exprValue, matching string, on, ignoring []string, group string, include []string) exprValue {
	for _, v := range []exprValue{lhs, rhs} {
		if v.kind == stringValue || v.kind == matrixValue {
			p.errorf("operator %s on a %s", op, map[valueKind]string{stringValue: "string", matrixValue: "range vector"}[v.kind])
			return vector(nil, false)
		}
	}
	switch {
	case lhs.kind == scalarValue && rhs.kind == scalarValue:
		return exprValue{kind: scalarValue, known: true}
	case lhs.kind == scalarValue:
		return vector(rhs.labels, rhs.known)
	case rhs.kind == scalarValue:
		return vector(lhs.labels, lhs.known)
	}
	known := lhs.known && rhs.known
	if !known {
		return vector(nil, false)
	}
	for _, l := range on {
		if !lhs.labels[l] || !rhs.labels[l] {
			p.errorf("on(%s): %s is not a label of both sides (%v, %v)", strings.Join(on, ", "), l, sortedKeys(lhs.labels), sortedKeys(rhs.labels))
		}
	}
	for _, l := range ignoring {
		if !lhs.labels[l] && !rhs.labels[l] {
			p.errorf("ignoring(%s): %s is a label of neither side", strings.Join(ignoring, ", "), l)
		}
	}
	// Without on/ignoring, series match only when all their labels are equal: different label
	// sets on the two sides match nothing, silently.
	if matching == "" && op != "or" && op != "and" && op != "unless" && !maps.Equal(lhs.labels, rhs.labels) {
		p.errorf("%s between series with different labels %v and %v matches nothing; use on(...)", op, sortedKeys(lhs.labels), sortedKeys(rhs.labels))
	}
	switch {
	case op == "or":
		out := maps.Clone(lhs.labels)
		maps.Copy(out, rhs.labels)
		return vector(out, true)
	case group == "group_right":
		out := maps.Clone(rhs.labels)
		for _, l := range include {
			out[l] = true
		}
		return vector(out, true)
	default:
		out := maps.Clone(lhs.labels)
		for _, l := range include {
			out[l] = true
		}
		return vector(out, true)
	}
}

func (p *promParser) unary() exprValue {
	if t := p.peek(); t.kind == tokOp && (t.text == "-" || t.text == "+") {
		p.next()
		return p.unary()
	}
	v := p.primary()
	if p.peek().kind == tokRange {
		p.errorf("subquery or range over a non-selector ([%s]) is outside the checked subset", p.peek().text)
		p.next()
	}
	if p.peek().text == "offset" {
		p.next()
		if t := p.next(); t.kind != tokNumber && t.kind != tokIdent {
			p.errorf("offset wants a duration")
		}
	}
	return v
}

var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
}

// functions whose result keeps the labels of their (range) vector argument; rangeFuncs take a
// range vector.
var (
	vectorFuncs = map[string]bool{
		"abs": true, "ceil": true, "floor": true, "round": true, "sqrt": true, "exp": true, "ln": true,
		"log2": true, "log10": true, "sgn": true, "clamp": true, "clamp_min": true, "clamp_max": true,
		"sort": true, "sort_desc": true, "timestamp": true,
	}
	rangeFuncs = map[string]bool{
		"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
		"changes": true, "resets": true, "predict_linear": true, "avg_over_time": true,
		"min_over_time": true, "max_over_time": true, "sum_over_time": true, "count_over_time": true,
		"last_over_time": true, "quantile_over_time": true, "stddev_over_time": true,
	}
	// counterFuncs are meaningful only over counters.
	counterFuncs = map[string]bool{"rate": true, "irate": true, "increase": true, "resets": true}
)

func (p *promParser) primary() exprValue {
	t := p.peek()
	switch t.kind {
	case tokLParen:
		p.next()
		v := p.expr(0)
		p.expect(tokRParen, ")")
		return v
	case tokNumber:
		p.next()
		return exprValue{kind: scalarValue, known: true}
	case tokString:
		p.next()
		return exprValue{kind: stringValue, known: true}
	case tokIdent:
		switch {
		case aggregations[t.text]:
			p.next()
			return p.aggregation(t.text)
		case p.toks[p.i+1].kind == tokLParen:
			p.next()
			return p.call(t.text)
		case binaryPrecedence[t.text] > 0 || slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}, t.text):
			p.errorf("keyword %q where an expression belongs", t.text)
			p.next()
			return vector(nil, false)
		}
		p.next()
		return p.selector(t.text)
	}
	p.errorf("unexpected %q", t.text)
	p.next()
	return vector(nil, false)
}

// labelList parses "(a, b, ...)".
func (p *promParser) labelList() []string {
	var out []string
	if !p.expect(tokLParen, "( of a label list") {
		return nil
	}
	for p.peek().kind != tokRParen && p.peek().kind != tokEOF {
		t := p.next()
		if t.kind != tokIdent {
			p.errorf("label list: want a label name, got %q", t.text)
		} else {
			out = append(out, t.text)
		}
		if p.peek().kind == tokComma {
			p.next()
		}
	}
	p.expect(tokRParen, ") of a label list")
	return out
}

func (p *promParser) args() []exprValue {
	var out []exprValue
	if !p.expect(tokLParen, "(") {
		return nil
	}
	for p.peek().kind != tokRParen && p.peek().kind != tokEOF {
		out = append(out, p.expr(0))
		if p.peek().kind != tokComma {
			break
		}
		p.next()
	}
	p.expect(tokRParen, ")")
	return out
}

func (p *promParser) aggregation(op string) exprValue {
	var modifier string
	var grouping []string
	if t := p.peek().text; t == "by" || t == "without" {
		p.next()
		modifier, grouping = t, p.labelList()
	}
	args := p.args()
	if t := p.peek().text; modifier == "" && (t == "by" || t == "without") {
		p.next()
		modifier, grouping = t, p.labelList()
	}
	wantArgs := 1
	if op == "topk" || op == "bottomk" || op == "quantile" || op == "count_values" {
		wantArgs = 2
	}
	if len(args) != wantArgs {
		p.errorf("%s takes %d arguments, got %d", op, wantArgs, len(args))
		return vector(nil, false)
	}
	v := args[len(args)-1]
	if v.kind != vectorValue {
		p.errorf("%s over a non-vector", op)
		return vector(nil, false)
	}
	if !v.known {
		return vector(nil, false)
	}
	for _, l := range grouping {
		if !v.labels[l] {
			p.errorf("%s %s (%s): %s is not a label of %v", op, modifier, strings.Join(grouping, ", "), l, sortedKeys(v.labels))
		}
	}
	out := map[string]bool{}
	switch {
	case op == "topk" || op == "bottomk":
		out = maps.Clone(v.labels)
	case modifier == "by":
		for _, l := range grouping {
			out[l] = true
		}
	case modifier == "without":
		out = maps.Clone(v.labels)
		for _, l := range grouping {
			delete(out, l)
		}
	}
	return vector(out, true)
}

func (p *promParser) call(fn string) exprValue {
	args := p.args()
	argErr := func(want string) exprValue {
		p.errorf("%s(%s): wrong arguments", fn, want)
		return vector(nil, false)
	}
	switch {
	case rangeFuncs[fn]:
		if len(args) == 0 || args[0].kind != matrixValue {
			return argErr("range vector, ...")
		}
		a := args[0]
		if counterFuncs[fn] && a.metric != "" && !p.isCounter(a.metric) {
			p.errorf("%s(%s): not a counter (nor a histogram's _bucket, _sum, _count)", fn, a.metric)
		}
		return vector(a.labels, a.known)
	case vectorFuncs[fn]:
		if len(args) == 0 || args[0].kind != vectorValue {
			return argErr("vector, ...")
		}
		return vector(args[0].labels, args[0].known)
	case fn == "histogram_quantile":
		if len(args) != 2 || args[0].kind != scalarValue || args[1].kind != vectorValue {
			return argErr("scalar, vector")
		}
		v := args[1]
		if !v.known {
			return v
		}
		if !v.labels["le"] {
			p.errorf("histogram_quantile over series without le (%v): keep le in the aggregation", sortedKeys(v.labels))
		}
		out := maps.Clone(v.labels)
		delete(out, "le")
		return vector(out, true)
	case fn == "vector":
		if len(args) != 1 || args[0].kind != scalarValue {
			return argErr("scalar")
		}
		return vector(map[string]bool{}, true)
	case fn == "scalar":
		if len(args) != 1 || args[0].kind != vectorValue {
			return argErr("vector")
		}
		return exprValue{kind: scalarValue, known: true}
	case fn == "time":
		return exprValue{kind: scalarValue, known: true}
	}
	p.errorf("function %s is unknown to this checker", fn)
	return vector(nil, false)
}

// isCounter: by type where a scrape showed it, else by the naming conventions.
func (p *promParser) isCounter(name string) bool {
	for _, tg := range p.c.targets {
		if m, ok := tg.metrics[name]; ok && m.typ != "" {
			return m.typ == "counter"
		}
	}
	for _, s := range []string{"_total", "_bucket", "_sum", "_count"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

type matcher struct {
	label, op, value string
}

func (p *promParser) selector(name string) exprValue {
	var ms []matcher
	if p.peek().kind == tokLBrace {
		p.next()
		for p.peek().kind != tokRBrace && p.peek().kind != tokEOF {
			l, op, v := p.next(), p.next(), p.next()
			if l.kind != tokIdent || op.kind != tokOp || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op.text) || v.kind != tokString {
				p.errorf("%s: bad matcher %s%s%s", name, l.text, op.text, v.text)
				break
			}
			ms = append(ms, matcher{l.text, op.text, v.text})
			if p.peek().kind == tokComma {
				p.next()
			}
		}
		p.expect(tokRBrace, "}")
	}
	v := p.lookup(name, ms)
	if p.peek().kind == tokRange {
		r := p.next().text
		if !rangeRE.MatchString(r) {
			p.errorf("%s[%s]: not a duration nor $__rate_interval", name, r)
		}
		v.kind = matrixValue
	}
	return v
}

// lookup resolves a selector: the job matcher names the targets; the metric must be exported by
// each one, and every matcher's label must be one of its labels or a target label.
func (p *promParser) lookup(name string, ms []matcher) exprValue {
	var jobs []string
	for _, m := range ms {
		if m.label != "job" {
			continue
		}
		for variable := range p.c.targets {
			if strings.Contains(m.value, variable) {
				jobs = append(jobs, variable)
			}
		}
	}
	slices.Sort(jobs)
	if len(jobs) == 0 {
		p.errorf("%s: no job matcher naming one of %v (the dashboard's job variables)", name, sortedKeys(p.c.targets))
		return exprValue{kind: vectorValue, metric: name}
	}
	var labels map[string]bool
	for _, job := range jobs {
		tg := p.c.targets[job]
		l, ok := tg.labelsOf(name)
		if !ok {
			p.errorf("%s: %s exports no such metric (selected by %s)", name, tg.binary, job)
			return exprValue{kind: vectorValue, metric: name}
		}
		if labels == nil {
			labels = l
		} else {
			maps.DeleteFunc(labels, func(k string, _ bool) bool { return !l[k] })
		}
	}
	for _, m := range ms {
		if !labels[m.label] {
			p.errorf("%s{%s%s%q}: %s is not a label of %s (%v)", name, m.label, m.op, m.value, m.label, name, sortedKeys(labels))
			continue
		}
		// A value of a label whose values the binaries enumerate must be one of them (a typo
		// in "Running" matches nothing and the panel is silently empty).
		known, enum := labelValues[m.label]
		if !enum || strings.Contains(m.value, "$") || (m.op != "=" && m.op != "=~") {
			continue
		}
		alts := []string{m.value}
		if m.op == "=~" {
			if !literalAlternation.MatchString(m.value) {
				continue // a real pattern: not checked
			}
			alts = strings.Split(m.value, "|")
		}
		for _, v := range alts {
			if !slices.Contains(known, v) {
				p.errorf("%s{%s%s%q}: %q is not a value of %s (%v)", name, m.label, m.op, m.value, v, m.label, known)
			}
		}
	}
	return exprValue{kind: vectorValue, labels: labels, known: true, metric: name}
}

// literalAlternation is a regex matcher that is only literal values joined by |.
var literalAlternation = regexp.MustCompile(`^[A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*$`)

// labelValues are the values of the labels the binaries set from a fixed set.
var labelValues = map[string][]string{
	"phase":    taskPhases(),
	"resource": resourceNames(),
	"kind":     {"allocated", "offered", "revocable"}, // agora_role_held
}

func taskPhases() []string {
	var out []string
	for _, p := range []agorav1alpha1.TaskPhase{agorav1alpha1.TaskStaging, agorav1alpha1.TaskStarting, agorav1alpha1.TaskRunning,
		agorav1alpha1.TaskUnreachable, agorav1alpha1.TaskFinished, agorav1alpha1.TaskFailed, agorav1alpha1.TaskKilled,
		agorav1alpha1.TaskLost, agorav1alpha1.TaskError} {
		out = append(out, string(p))
	}
	return out
}

func resourceNames() []string {
	var out []string
	for r := allocator.ResourceName(0); r < allocator.NumResources; r++ {
		out = append(out, r.String())
	}
	return out
}

// labelsOf returns the labels series of the metric carry once scraped from this target: the
// exported family's labels (plus le for a histogram's _bucket) and the target labels.
func (tg scrapeTarget) labelsOf(name string) (map[string]bool, bool) {
	m, ok := tg.metrics[name]
	if !ok {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, cut := strings.CutSuffix(name, suffix)
			if !cut {
				continue
			}
			h, found := tg.metrics[base]
			// A histogram (or a summary, for _sum and _count); a counter's name ends in _total.
			if !found || strings.HasSuffix(base, "_total") || h.typ != "" && h.typ != "histogram" && (h.typ != "summary" || suffix == "_bucket") {
				return nil, false
			}
			m, ok = h, true
			m.labels = maps.Clone(h.labels)
			if suffix == "_bucket" {
				m.labels["le"] = true
			}
			break
		}
		if !ok {
			return nil, false
		}
	}
	out := maps.Clone(m.labels)
	for _, l := range tg.targetLabels {
		out[l] = true
	}
	return out, true
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
