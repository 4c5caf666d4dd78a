package allocator

import (
	"errors"
	"fmt"
)

// SelectorOperator is the operator of a LabelSelectorRequirement, as in Kubernetes.
type SelectorOperator string

// The label selector operators of Kubernetes' metav1.LabelSelector.
const (
	SelectorIn           SelectorOperator = "In"
	SelectorNotIn        SelectorOperator = "NotIn"
	SelectorExists       SelectorOperator = "Exists"
	SelectorDoesNotExist SelectorOperator = "DoesNotExist"
)

// LabelSelector is Kubernetes' metav1.LabelSelector: every MatchLabels pair and every
// MatchExpressions requirement must hold. An empty selector matches every node.
type LabelSelector struct {
	MatchLabels      map[string]string
	MatchExpressions []LabelSelectorRequirement
}

// LabelSelectorRequirement is one requirement of a LabelSelector.
type LabelSelectorRequirement struct {
	Key      string
	Operator SelectorOperator
	// Values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist.
	Values []string
}

// Validate reports a selector Kubernetes would reject.
func (s *LabelSelector) Validate() error {
	if s == nil {
		return nil
	}
	for _, r := range s.MatchExpressions {
		if r.Key == "" {
			return errors.New("label selector requirement with an empty key")
		}
		switch r.Operator {
		case SelectorIn, SelectorNotIn:
			if len(r.Values) == 0 {
				return fmt.Errorf("label selector requirement %q %s needs values", r.Key, r.Operator)
			}
		case SelectorExists, SelectorDoesNotExist:
			if len(r.Values) != 0 {
				return fmt.Errorf("label selector requirement %q %s takes no values", r.Key, r.Operator)
			}
		default:
			return fmt.Errorf("label selector requirement %q: unknown operator %q", r.Key, r.Operator)
		}
	}
	return nil
}

// Matches reports whether labels satisfy the selector. A nil selector matches everything.
// NotIn and DoesNotExist hold for a node without the key, as in Kubernetes.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return true
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		got, ok := labels[r.Key]
		switch r.Operator {
		case SelectorIn:
			if !ok || !contains(r.Values, got) {
				return false
			}
		case SelectorNotIn:
			if ok && contains(r.Values, got) {
				return false
			}
		case SelectorExists:
			if !ok {
				return false
			}
		case SelectorDoesNotExist:
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// TaintEffect is the effect of a node taint, as in Kubernetes.
type TaintEffect string

// The taint effects of Kubernetes' corev1.Taint.
const (
	TaintNoSchedule       TaintEffect = "NoSchedule"
	TaintPreferNoSchedule TaintEffect = "PreferNoSchedule"
	TaintNoExecute        TaintEffect = "NoExecute"
)

// Taint is a node taint. NoSchedule and NoExecute taints keep a node's offers away from
// frameworks that do not tolerate them; PreferNoSchedule is a preference that the allocator
// does not enforce (an offer is not a placement, the framework may still choose elsewhere).
type Taint struct {
	Key    string
	Value  string
	Effect TaintEffect
}

// TolerationOperator is the operator of a Toleration, as in Kubernetes.
type TolerationOperator string

// The toleration operators of Kubernetes' corev1.Toleration. An empty operator means Equal.
const (
	TolerationEqual  TolerationOperator = "Equal"
	TolerationExists TolerationOperator = "Exists"
)

// Toleration is Kubernetes' corev1.Toleration without tolerationSeconds. An empty Key with
// Exists tolerates every taint; an empty Effect matches every effect.
type Toleration struct {
	Key      string
	Operator TolerationOperator
	Value    string
	Effect   TaintEffect
}

// Validate reports a toleration Kubernetes would reject.
func (t Toleration) Validate() error {
	switch t.Operator {
	case "", TolerationEqual:
		if t.Key == "" {
			return errors.New("toleration with an empty key must use operator Exists")
		}
	case TolerationExists:
		if t.Value != "" {
			return fmt.Errorf("toleration %q: operator Exists takes no value", t.Key)
		}
	default:
		return fmt.Errorf("toleration %q: unknown operator %q", t.Key, t.Operator)
	}
	return nil
}

// Tolerates reports whether t tolerates taint, with Kubernetes' matching rules.
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", TolerationEqual:
		return t.Value == taint.Value
	case TolerationExists:
		return true
	}
	return false
}

// toleratesAll reports whether tolerations tolerate every taint that keeps offers away
// (NoSchedule and NoExecute).
func toleratesAll(tolerations []Toleration, taints []Taint) bool {
	for _, taint := range taints {
		if taint.Effect == TaintPreferNoSchedule {
			continue
		}
		ok := false
		for _, t := range tolerations {
			if t.Tolerates(taint) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
