package main

import (
	"fmt"
	"net"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
)

func newConfigureCmd() *cobra.Command {
	var out, cluster, dataDir, listen, public string
	var agent bool
	cmd := &cobra.Command{
		Use:   "configure -o FILE --cluster-name=NAME --data-dir=DIR --listen=ADDR [--public-addr=ADDR]",
		Short: "Write a working auth and proxy configuration",
		Long: `Write the configuration of an auth and proxy host, so nobody has to write
HCL to get started. -o file writes /etc/keyway.hcl, -o stdout prints it,
any other value is a path. With --db, the file also gets an empty db block
for databases served by this same process (all-in-one).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cluster == "" || dataDir == "" || listen == "" {
				return fmt.Errorf("--cluster-name, --data-dir and --listen are required")
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return fmt.Errorf("--listen=%q is not HOST:PORT", listen)
			}
			if public == "" {
				public = listen
			}
			f := hclwrite.NewEmptyFile()
			body := f.Body()
			body.SetAttributeValue("cluster_name", cty.StringVal(cluster))
			body.SetAttributeValue("data_dir", cty.StringVal(dataDir))
			body.AppendNewline()
			body.AppendNewBlock("auth", nil)
			body.AppendNewline()
			px := body.AppendNewBlock("proxy", nil).Body()
			px.SetAttributeValue("listen", cty.StringVal(listen))
			px.SetAttributeValue("public_addr", cty.StringVal(public))
			if agent {
				body.AppendNewline()
				body.AppendNewBlock("db", nil)
			}
			path, err := writeOutput(out, f.Bytes(), func(b []byte) error { _, err := cmd.OutOrStdout().Write(b); return err })
			if err != nil || path == "" {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s; start with: keyway start -c %s\n", path, path)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "output", "o", "", "file (/etc/keyway.hcl), stdout, or a path")
	fl.StringVar(&cluster, "cluster-name", "", "the cluster's name")
	fl.StringVar(&dataDir, "data-dir", "", "where keyway keeps its state")
	fl.StringVar(&listen, "listen", "", "HOST:PORT the proxy binds")
	fl.StringVar(&public, "public-addr", "", "HOST:PORT clients use (default: --listen)")
	fl.BoolVar(&agent, "db", false, "also serve databases from this process (add databases to the db block)")
	return cmd
}

func newDBConfigureCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "configure", Short: "Write a database agent's configuration"}
	var out, token, proxyAddr, name, protocol, uri, labels, caFile, dataDir, description, resources string
	var systemPool bool
	create := &cobra.Command{
		Use:   "create -o file|stdout|PATH --token=PATH --proxy=HOST:PORT [--name=NAME --protocol=postgres --uri=HOST:PORT] [--resources=KEY=VALUE]",
		Short: "Write the configuration of an agent that serves one database, db resources, or both",
		Long: `Write an agent's configuration: it joins the cluster through the proxy
with the one-time token in --token (the file is read at the first start,
the token is never copied into the configuration) and serves one database
(--name and --uri), the cluster's db resources whose labels match
--resources (keyway create -f db.hcl registers them), or both.
The database server's certificate is verified against the cluster's db
authority, or --ca-cert-file, or the system's roots with
--trust-system-cert-pool.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" || proxyAddr == "" {
				return fmt.Errorf("--token and --proxy are required")
			}
			if (name == "") != (uri == "") || (name == "" && resources == "") {
				return fmt.Errorf("give --name and --uri for a database, --resources for db resources, or both")
			}
			if caFile != "" && systemPool {
				return fmt.Errorf("choose one of --ca-cert-file and --trust-system-cert-pool")
			}
			lbls, err := parseLabels(labels)
			if err != nil {
				return err
			}
			selector, err := parseLabels(resources)
			if err != nil {
				return fmt.Errorf("--resources: %w", err)
			}
			f := hclwrite.NewEmptyFile()
			body := f.Body()
			body.SetAttributeValue("data_dir", cty.StringVal(dataDir))
			body.AppendNewline()
			db := body.AppendNewBlock("db", nil).Body()
			db.SetAttributeValue("proxy_addr", cty.StringVal(proxyAddr))
			db.SetAttributeValue("token_file", cty.StringVal(token))
			if name != "" {
				db.AppendNewline()
				d := db.AppendNewBlock("database", []string{name}).Body()
				if description != "" {
					d.SetAttributeValue("description", cty.StringVal(description))
				}
				d.SetAttributeValue("protocol", cty.StringVal(protocol))
				d.SetAttributeValue("uri", cty.StringVal(uri))
				d.SetAttributeValue("labels", mapValue(lbls))
				if caFile != "" {
					d.SetAttributeValue("ca_cert_file", cty.StringVal(caFile))
				}
				if systemPool {
					d.SetAttributeValue("trust_system_cert_pool", cty.True)
				}
			}
			if len(selector) > 0 {
				db.AppendNewline()
				db.AppendNewBlock("resources", nil).Body().SetAttributeValue("labels", cty.ObjectVal(ctyStrings(selector)))
			}
			path, err := writeOutput(out, f.Bytes(), func(b []byte) error { _, err := cmd.OutOrStdout().Write(b); return err })
			if err != nil || path == "" {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s; start the agent with: keyway start -c %s\n", path, path)
			return err
		},
	}
	fl := create.Flags()
	fl.StringVarP(&out, "output", "o", "", "file (/etc/keyway.hcl), stdout, or a path")
	fl.StringVar(&token, "token", "", "file holding the join token from keyway tokens add")
	fl.StringVar(&proxyAddr, "proxy", "", "the cluster's proxy, HOST:PORT")
	fl.StringVar(&name, "name", "", "the database's name in the cluster")
	fl.StringVar(&protocol, "protocol", "postgres", "the database's protocol plugin")
	fl.StringVar(&uri, "uri", "", "HOST:PORT of the database")
	fl.StringVar(&labels, "labels", "", "labels, KEY=VALUE[,KEY=VALUE]")
	fl.StringVar(&description, "description", "", "what the database is, shown by keyway db ls")
	fl.StringVar(&caFile, "ca-cert-file", "", "trust this CA for the database server instead of the cluster's db authority")
	fl.BoolVar(&systemPool, "trust-system-cert-pool", false, "trust the system's roots for the database server")
	fl.BoolVar(&systemPool, "trust_system_cert_pool", false, "same as --trust-system-cert-pool")
	_ = fl.MarkHidden("trust_system_cert_pool")
	fl.StringVar(&resources, "resources", "", "serve the db resources whose labels match, KEY=PATTERN[,KEY=PATTERN] (* for any value)")
	fl.StringVar(&dataDir, "data-dir", "/var/lib/keyway", "where the agent keeps its identity")
	cmd.AddCommand(create)
	return cmd
}
