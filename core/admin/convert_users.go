package admin

import (
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// redactedHash stands, in a user decoded from the admin API, for a
// password or invite hash that is set; hashes stay in the auth process.
const redactedHash = "-"

// userToProto encodes a user without its secrets' hashes.
func userToProto(u auth.User) *apiv1.UserRecord {
	return &apiv1.UserRecord{
		Name: u.Name, Roles: u.Roles, DbUsers: u.DBUsers, DbNames: u.DBNames, Created: timestamp(u.Created),
		PasswordSet: u.PasswordHash != "", InvitePending: u.InviteHash != "", InviteExpires: timestamp(u.InviteExpires),
		FailedLogins: int32(u.FailedLogins), LockedUntil: timestamp(u.LockedUntil),
	}
}

// userFromProto decodes a user; a hash that is set reads redactedHash.
func userFromProto(p *apiv1.UserRecord) auth.User {
	u := auth.User{
		Name: p.GetName(), Roles: p.GetRoles(), DBUsers: p.GetDbUsers(), DBNames: p.GetDbNames(), Created: timeOf(p.GetCreated()),
		InviteExpires: timeOf(p.GetInviteExpires()), FailedLogins: int(p.GetFailedLogins()), LockedUntil: timeOf(p.GetLockedUntil()),
	}
	if p.GetPasswordSet() {
		u.PasswordHash = redactedHash
	}
	if p.GetInvitePending() {
		u.InviteHash = redactedHash
	}
	return u
}

// stringList encodes a list whose nil differs from its emptiness: nil is
// left unset.
func stringList(s []string) *apiv1.StringList {
	if s == nil {
		return nil
	}
	return &apiv1.StringList{Values: s}
}

// stringsOf decodes a StringList: unset is nil, and a list that is set
// is never nil.
func stringsOf(l *apiv1.StringList) []string {
	if l == nil {
		return nil
	}
	if l.GetValues() == nil {
		return []string{}
	}
	return l.GetValues()
}

// botToProto encodes a bot.
func botToProto(b auth.Bot) *apiv1.BotRecord {
	return &apiv1.BotRecord{Name: b.Name, Roles: b.Roles, DbUsers: b.DBUsers, DbNames: b.DBNames, Created: timestamp(b.Created)}
}

// botFromProto decodes a bot.
func botFromProto(p *apiv1.BotRecord) auth.Bot {
	return auth.Bot{Name: p.GetName(), Roles: p.GetRoles(), DBUsers: p.GetDbUsers(), DBNames: p.GetDbNames(), Created: timeOf(p.GetCreated())}
}

// subjectToProto encodes a signed identity's subject.
func subjectToProto(s auth.Subject) *apiv1.Subject {
	return &apiv1.Subject{Kind: s.Kind, Name: s.Name, Roles: s.Roles, DbUsers: s.DBUsers, DbNames: s.DBNames, MaxTtl: duration(s.MaxTTL), CappedBy: s.CappedBy}
}

// subjectFromProto decodes a signed identity's subject.
func subjectFromProto(p *apiv1.Subject) auth.Subject {
	return auth.Subject{Kind: p.GetKind(), Name: p.GetName(), Roles: p.GetRoles(), DBUsers: p.GetDbUsers(), DBNames: p.GetDbNames(), MaxTTL: durationOf(p.GetMaxTtl()), CappedBy: p.GetCappedBy()}
}
