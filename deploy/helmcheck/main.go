// Command helmcheck checks the objects a Helm chart rendered against the
// Kubernetes API's own types: every document must be a kind the charts
// are meant to make, and decode into that kind's Go type from k8s.io/api
// with no field the type lacks, so a misspelt or misplaced field fails
// here rather than on a cluster. It also checks what the API server
// would refuse and the types cannot say: names, label selectors that
// match their pod template, and containers' volume mounts.
//
//	helm template r deploy/helm/keyway-agent -f values.yaml | helmcheck -
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: helmcheck FILE (or - for standard input)")
		os.Exit(2)
	}
	var in io.Reader = os.Stdin
	if os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "helmcheck:", err)
			os.Exit(1)
		}
		defer func() { _ = f.Close() }()
		in = f
	}
	src, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmcheck:", err)
		os.Exit(1)
	}
	kinds, err := check(src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmcheck:", err)
		os.Exit(1)
	}
	fmt.Printf("helmcheck: %d objects match the Kubernetes API types: %s\n", len(kinds), strings.Join(kinds, ", "))
}

// typeMeta is what names a document's kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// check decodes every document of a rendered chart strictly and returns
// their kinds and names.
func check(src []byte) ([]string, error) {
	var out []string
	var errs []error
	for i, doc := range documents(src) {
		var tm typeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i+1, err))
			continue
		}
		what := fmt.Sprintf("%s %s", tm.Kind, tm.Metadata.Name)
		if err := checkObject(tm, doc); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", what, tm.APIVersion, err))
			continue
		}
		out = append(out, what)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("the chart rendered no object"))
	}
	return out, errors.Join(errs...)
}

// documents splits a YAML stream, leaving out empty documents.
func documents(src []byte) [][]byte {
	var out [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(src), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// dnsLabel is what the API server accepts as most objects' names.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkObject decodes doc into the Go type of its kind, refusing fields
// the type does not have.
func checkObject(tm typeMeta, doc []byte) error {
	if !dnsLabel.MatchString(tm.Metadata.Name) || len(tm.Metadata.Name) > 63 {
		return fmt.Errorf("metadata.name %q is not a DNS label of at most 63 characters", tm.Metadata.Name)
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		return strict[corev1.ConfigMap](doc, nil)
	case "v1 Secret":
		return strict[corev1.Secret](doc, nil)
	case "v1 Service":
		return strict(doc, checkService)
	case "v1 ServiceAccount":
		return strict[corev1.ServiceAccount](doc, nil)
	case "apps/v1 StatefulSet":
		return strict(doc, func(s *appsv1.StatefulSet) error {
			return checkPods(s.Spec.Selector.MatchLabels, s.Spec.Template, claimNames(s.Spec.VolumeClaimTemplates))
		})
	case "apps/v1 Deployment":
		return strict(doc, func(d *appsv1.Deployment) error {
			return checkPods(d.Spec.Selector.MatchLabels, d.Spec.Template, nil)
		})
	case "policy/v1 PodDisruptionBudget":
		return strict(doc, func(p *policyv1.PodDisruptionBudget) error {
			if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
				return errors.New("give exactly one of spec.minAvailable and spec.maxUnavailable")
			}
			if p.Spec.Selector == nil || len(p.Spec.Selector.MatchLabels) == 0 {
				return errors.New("spec.selector selects nothing")
			}
			return nil
		})
	}
	return fmt.Errorf("not a kind the keyway charts make")
}

// strict decodes doc into a T, refusing unknown fields, then runs more,
// when given, on it.
func strict[T any](doc []byte, more func(*T) error) error {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return err
	}
	if more == nil {
		return nil
	}
	return more(&v)
}

func checkService(s *corev1.Service) error {
	if len(s.Spec.Selector) == 0 {
		return errors.New("spec.selector selects no pod")
	}
	for _, p := range s.Spec.Ports {
		if p.Port < 1 || p.Port > 65535 {
			return fmt.Errorf("port %s: %d is not a port", p.Name, p.Port)
		}
	}
	return nil
}

func claimNames(claims []corev1.PersistentVolumeClaim) []string {
	var out []string
	for _, c := range claims {
		out = append(out, c.Name)
	}
	return out
}

// checkPods checks a workload's selector against its pod template's
// labels, and that every volume a container mounts exists.
func checkPods(selector map[string]string, t corev1.PodTemplateSpec, claims []string) error {
	if len(selector) == 0 {
		return errors.New("spec.selector.matchLabels is empty")
	}
	for k, v := range selector {
		if t.Labels[k] != v {
			return fmt.Errorf("spec.selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	volumes := map[string]bool{}
	for _, c := range claims {
		volumes[c] = true
	}
	for _, v := range t.Spec.Volumes {
		if volumes[v.Name] {
			return fmt.Errorf("volume %s is declared twice", v.Name)
		}
		volumes[v.Name] = true
	}
	if len(t.Spec.Containers) == 0 {
		return errors.New("the pod template has no container")
	}
	for _, c := range t.Spec.Containers {
		if c.Image == "" {
			return fmt.Errorf("container %s has no image", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				return fmt.Errorf("container %s mounts volume %s, which the pod does not have", c.Name, m.Name)
			}
		}
	}
	return nil
}
