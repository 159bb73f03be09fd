"""Indexes that keep a pause or a resume on its own session's rows.

The contract's (workspace_id, status) index alone makes a pause scan every ongoing campaign of
the workspace; (whatsapp_account_id, status) reaches just the session's campaigns, and the
account index turns a session id into its account without a scan.
"""

INDEXES = {
    "campaigns": {"idx_campaigns_account_status": ("whatsapp_account_id", "status")},
    "whatsapp_accounts": {"idx_whatsapp_accounts_session": ("session_id", "workspace_id")},
    "campaign_pause_events": {
        "idx_pause_events_workspace": ("workspace_id", "event", "occurred_at")
    },
}


def up(migrator, db):
    for table, wanted in INDEXES.items():
        present = {i.name for i in db.get_indexes(table)}
        for name, columns in wanted.items():
            if name not in present:
                migrator.migrate(migrator.add_index(table, columns, name=name))


def down(migrator, db):
    for table, wanted in INDEXES.items():
        present = {i.name for i in db.get_indexes(table)}
        for name in wanted:
            if name in present:
                migrator.migrate(migrator.drop_index(table, name))
