package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/sdk"
)

// databaseClient asks the proxy how clients of database name connect, as
// the plugin of its protocol declared.
func databaseClient(ctx context.Context, conn *grpc.ClientConn, name string) (*apiv1.Client, error) {
	resp, err := apiv1.NewUserClient(conn).ListDatabases(ctx, &apiv1.ListDatabasesRequest{})
	if err != nil {
		return nil, errors.New(status.Convert(err).Message())
	}
	for _, db := range resp.GetDatabases() {
		if db.GetName() != name {
			continue
		}
		if db.GetClient() == nil || db.GetClient().GetCommand() == "" {
			return nil, fmt.Errorf("the proxy runs no plugin of protocol %q, so it cannot say how to connect to %s", db.GetProtocol(), name)
		}
		return db.GetClient(), nil
	}
	return nil, fmt.Errorf("database %s is not one you may reach: keyway db ls lists the databases you can", name)
}

// clientSpec is the API's client as the SDK's ClientSpec.
func clientSpec(c *apiv1.Client) sdk.ClientSpec {
	return sdk.ClientSpec{Command: c.GetCommand(), Args: c.GetArgs(), Env: c.GetEnv(), Config: c.GetConfig(), Install: c.GetInstall()}
}

// proxySettings fills the connection settings of a login through the
// proxies: the protocol's own port when it has one, else every proxy of
// the cluster.
func proxySettings(prof *client.Profile, c *apiv1.Client, name string, f dbFiles, dbUser, dbName string) sdk.ConnectSettings {
	addrs := prof.Addresses()
	if c.GetAddress() != "" {
		addrs = []string{c.GetAddress()}
	}
	s := sdk.ConnectSettings{
		Database: name, DBUser: dbUser, DBName: dbName,
		CAFile: f.cas(), CertFile: f.cert(), KeyFile: f.key(),
	}
	for _, a := range addrs {
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		s.Hosts, s.Ports = append(s.Hosts, h), append(s.Ports, p)
	}
	if len(s.Hosts) > 0 {
		s.Host, s.Port = s.Hosts[0], s.Ports[0]
	}
	return s
}

// localSettings fills the connection settings of keyway proxy db on
// host:port, which clients reach without TLS.
func localSettings(name, host, port, dbUser, dbName string) sdk.ConnectSettings {
	return sdk.ConnectSettings{
		Database: name, Host: host, Port: port, Hosts: []string{host}, Ports: []string{port},
		DBUser: dbUser, DBName: dbName,
	}
}
