package access

import "testing"

func TestLabelSelectorMatch(t *testing.T) {
	dev := map[string]string{"env": "dev", "team": "shop", "region": "eu-west-1"}
	tests := []struct {
		name     string
		selector LabelSelector
		labels   map[string]string
		want     bool
	}{
		{"exact value", LabelSelector{"env": {"dev"}}, dev, true},
		{"other value", LabelSelector{"env": {"prod"}}, dev, false},
		{"one of several patterns", LabelSelector{"env": {"prod", "dev"}}, dev, true},
		{"every label must match", LabelSelector{"env": {"dev"}, "team": {"billing"}}, dev, false},
		{"all labels match", LabelSelector{"env": {"dev"}, "team": {"shop"}}, dev, true},
		{"missing label", LabelSelector{"owner": {"*"}}, dev, false},
		{"star value needs the label", LabelSelector{"env": {"*"}}, map[string]string{"team": "x"}, false},
		{"star value", LabelSelector{"env": {"*"}}, dev, true},
		{"glob prefix", LabelSelector{"env": {"de*"}}, dev, true},
		{"glob is anchored", LabelSelector{"env": {"e*"}}, dev, false},
		{"glob in the middle", LabelSelector{"region": {"eu-*-1"}}, dev, true},
		{"glob needs its literal parts", LabelSelector{"region": {"eu-*-2"}}, dev, false},
		{"glob star matches nothing", LabelSelector{"env": {"dev*"}}, dev, true},
		{"question mark is literal", LabelSelector{"env": {"de?"}}, dev, false},
		{"bracket is literal", LabelSelector{"env": {"[d]ev"}}, dev, false},
		{"regexp", LabelSelector{"region": {"^eu-(west|central)-[0-9]+$"}}, dev, true},
		{"regexp not matching", LabelSelector{"region": {"^us-.*$"}}, dev, false},
		{"invalid regexp matches nothing", LabelSelector{"env": {"^(dev$"}}, dev, false},
		{"any label with a value", LabelSelector{"*": {"shop"}}, dev, true},
		{"any label without that value", LabelSelector{"*": {"billing"}}, dev, false},
		{"everything", LabelSelector{"*": {"*"}}, dev, true},
		{"everything, unlabelled too", LabelSelector{"*": {"*"}}, nil, true},
		{"empty selector matches nothing", LabelSelector{}, dev, false},
		{"no patterns matches nothing", LabelSelector{"env": {}}, dev, false},
		{"unlabelled database", LabelSelector{"env": {"dev"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.selector.Match(tt.labels); got != tt.want {
				t.Fatalf("%v.Match(%v) = %v, want %v", tt.selector, tt.labels, got, tt.want)
			}
		})
	}
}

func TestMatchAnyIsAnOr(t *testing.T) {
	sel := []LabelSelector{{"env": {"prod"}}, {"team": {"shop"}}}
	if !MatchAny(sel, map[string]string{"team": "shop"}) {
		t.Fatal("the second selector should match")
	}
	if MatchAny(sel, map[string]string{"env": "dev"}) {
		t.Fatal("neither selector should match")
	}
	if MatchAny(nil, map[string]string{"env": "dev"}) {
		t.Fatal("no selector matches nothing")
	}
}
