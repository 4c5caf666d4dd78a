package allocator

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResources(t *testing.T) {
	a, b := cpuMemGPU(1500, 4*Gi, 1), cpuMem(500, 5*Gi)
	if got := a.Add(b); got != cpuMemGPU(2000, 9*Gi, 1) {
		t.Errorf("Add = %v", got)
	}
	if got := a.Sub(b); got != cpuMemGPU(1000, -Gi, 1) || !got.HasNegative() || got.ClampZero() != cpuMemGPU(1000, 0, 1) {
		t.Errorf("Sub = %v", got)
	}
	if got := a.Min(b); got != cpuMem(500, 4*Gi) {
		t.Errorf("Min = %v", got)
	}
	if a.Fits(b) || !b.Fits(cpuMem(500, 5*Gi)) || !(Resources{}).IsZero() || a.IsZero() {
		t.Error("Fits/IsZero")
	}
	for r, want := range map[Resources]string{
		{}:                          "0",
		a:                           "cpu=1500m,memory=4Gi,gpu=1",
		{CPU: 2000, Memory: 1000}:   "cpu=2,memory=1000",
		{EphemeralStorage: 3 << 20}: "ephemeral-storage=3Mi",
	} {
		if got := r.String(); got != want {
			t.Errorf("%v.String() = %q, want %q", [4]int64(r), got, want)
		}
	}
	if ResourceName(9).String() != "resource(9)" || GPU.String() != "gpu" {
		t.Error("ResourceName.String")
	}
}

func TestCapToHeadroom(t *testing.T) {
	u := int64(unlimited)
	for name, tc := range map[string]struct{ free, headroom, want Resources }{
		"no limit":          {cpuMem(8000, 32*Gi), Resources{u, u, u, u}, cpuMem(8000, 32*Gi)},
		"within limits":     {cpuMem(8000, 32*Gi), Resources{9000, u, u, u}, cpuMem(8000, 32*Gi)},
		"cpu cut to a half": {cpuMem(8000, 32*Gi), Resources{4000, u, u, u}, cpuMem(4000, 16*Gi)},
		"tightest wins":     {cpuMem(8000, 32*Gi), Resources{4000, 8 * Gi, u, u}, cpuMem(2000, 8*Gi)},
		"nothing left":      {cpuMemGPU(8000, 32*Gi, 2), Resources{u, u, u, 0}, Resources{}},
		"zero free ignored": {cpuMem(8000, 0), Resources{u, 0, u, u}, cpuMem(8000, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			if got := capToHeadroom(tc.free, tc.headroom); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBitset(t *testing.T) {
	b := NewBitset(130)
	for _, i := range []int{0, 63, 64, 129} {
		b.Set(i)
	}
	b.Clear(63)
	var got []int
	for i := b.Next(0); i >= 0; i = b.Next(i + 1) {
		got = append(got, i)
	}
	if diff := cmp.Diff([]int{0, 64, 129}, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if b.Count() != 3 || b.Has(500) || b.Has(63) || !b.Has(129) || b.Next(130) != -1 || b.Next(-5) != 0 {
		t.Error("Count/Has/Next")
	}
}

func TestLabelSelector(t *testing.T) {
	labels := map[string]string{"zone": "a", "disk": "ssd"}
	req := func(k string, op SelectorOperator, v ...string) *LabelSelector {
		return &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: k, Operator: op, Values: v}}}
	}
	for name, tc := range map[string]struct {
		sel   *LabelSelector
		match bool
		valid bool
	}{
		"nil":                     {nil, true, true},
		"empty":                   {&LabelSelector{}, true, true},
		"matchLabels":             {&LabelSelector{MatchLabels: map[string]string{"zone": "a"}}, true, true},
		"matchLabels other":       {&LabelSelector{MatchLabels: map[string]string{"zone": "b"}}, false, true},
		"matchLabels missing":     {&LabelSelector{MatchLabels: map[string]string{"gpu": ""}}, false, true},
		"In":                      {req("zone", SelectorIn, "b", "a"), true, true},
		"In, missing key":         {req("rack", SelectorIn, "1"), false, true},
		"NotIn":                   {req("zone", SelectorNotIn, "a"), false, true},
		"NotIn, missing key":      {req("rack", SelectorNotIn, "1"), true, true},
		"Exists":                  {req("disk", SelectorExists), true, true},
		"DoesNotExist":            {req("disk", SelectorDoesNotExist), false, true},
		"DoesNotExist, missing":   {req("rack", SelectorDoesNotExist), true, true},
		"all must hold":           {&LabelSelector{MatchLabels: map[string]string{"zone": "a"}, MatchExpressions: []LabelSelectorRequirement{{Key: "disk", Operator: SelectorDoesNotExist}}}, false, true},
		"In without values":       {req("zone", SelectorIn), false, false},
		"Exists with values":      {req("zone", SelectorExists, "a"), true, false},
		"unknown operator":        {req("zone", "Gt", "1"), false, false},
		"requirement with no key": {req("", SelectorExists), false, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.sel.Matches(labels); got != tc.match {
				t.Errorf("Matches = %v, want %v", got, tc.match)
			}
			if err := tc.sel.Validate(); (err == nil) != tc.valid {
				t.Errorf("Validate = %v, want valid %v", err, tc.valid)
			}
		})
	}
}

func TestTolerations(t *testing.T) {
	taint := Taint{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}
	for name, tc := range map[string]struct {
		tol       Toleration
		tolerates bool
		valid     bool
	}{
		"equal":                  {Toleration{Key: "dedicated", Operator: TolerationEqual, Value: "db"}, true, true},
		"empty operator = equal": {Toleration{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}, true, true},
		"other value":            {Toleration{Key: "dedicated", Value: "web"}, false, true},
		"other effect":           {Toleration{Key: "dedicated", Value: "db", Effect: TaintNoExecute}, false, true},
		"exists":                 {Toleration{Key: "dedicated", Operator: TolerationExists}, true, true},
		"exists, other key":      {Toleration{Key: "gpu", Operator: TolerationExists}, false, true},
		"exists everything":      {Toleration{Operator: TolerationExists}, true, true},
		"equal without key":      {Toleration{Value: "db"}, true, false},
		"exists with value":      {Toleration{Key: "dedicated", Operator: TolerationExists, Value: "db"}, true, false},
		"unknown operator":       {Toleration{Key: "dedicated", Operator: "Lt"}, false, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.tol.Tolerates(taint); got != tc.tolerates {
				t.Errorf("Tolerates = %v, want %v", got, tc.tolerates)
			}
			if err := tc.tol.Validate(); (err == nil) != tc.valid {
				t.Errorf("Validate = %v, want valid %v", err, tc.valid)
			}
		})
	}
	soft := Taint{Key: "x", Effect: TaintPreferNoSchedule}
	if !toleratesAll(nil, []Taint{soft}) || toleratesAll(nil, []Taint{soft, taint}) {
		t.Error("PreferNoSchedule must not keep offers away; NoSchedule must")
	}
}
