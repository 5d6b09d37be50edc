package main

import (
	"strings"
	"testing"
)

const statefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: agent
spec:
  serviceName: agent
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
        - name: keyway
          image: keyway:1
          volumeMounts:
            - {name: data, mountPath: /var/lib/keyway}
            - {name: config, mountPath: /etc/keyway}
      volumes:
        - name: config
          configMap: {name: agent}
  volumeClaimTemplates:
    - metadata: {name: data}
`

func TestCheck(t *testing.T) {
	tests := []struct {
		name, src, wantErr string
	}{
		{"a good statefulset and a configmap", statefulSet + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: agent\ndata:\n  keyway.hcl: x\n", ""},
		{"an unknown field", strings.Replace(statefulSet, "serviceName: agent", "serviceName: agent\n  replica: 2", 1), `unknown field "replica"`},
		{"a field in the wrong place", strings.Replace(statefulSet, "      containers:", "      readinessProbe: {}\n      containers:", 1), `unknown field "readinessProbe"`},
		{"a selector that misses the pods", strings.Replace(statefulSet, "matchLabels: {app: agent}", "matchLabels: {app: other}", 1), "does not match the pod template's labels"},
		{"a mount without its volume", strings.Replace(statefulSet, "- {name: config, mountPath", "- {name: tokens, mountPath", 1), "mounts volume tokens"},
		{"a kind the charts do not make", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", "not a kind the keyway charts make"},
		{"a name that is not a DNS label", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Agent_1\n", "is not a DNS label"},
		{"a budget with both bounds", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: b\nspec:\n  minAvailable: 1\n  maxUnavailable: 1\n  selector:\n    matchLabels: {app: agent}\n", "exactly one of"},
		{"nothing rendered", "# Source: x\n---\n", "rendered no object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kinds, err := check([]byte(tt.src))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				if len(kinds) != 2 {
					t.Fatalf("check found %v", kinds)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("check = %v, %v; want an error with %q", kinds, err, tt.wantErr)
			}
		})
	}
}
