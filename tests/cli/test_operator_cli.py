"""`temporal operator namespace create / describe / list / update / delete` and `temporal operator
search-attribute create / list / remove`, run as the real CLI against the session's server.

Each test works in namespaces of its own (uuid names) and deletes them; `default` is never deleted.
"""

from __future__ import annotations

import uuid
from typing import Any

from ._cli import CliResult, TemporalCli, table_rows, text_fields


def _in_namespace(cli: TemporalCli, name: str) -> TemporalCli:
    """The CLI with `--namespace name`: the operator commands act on that namespace."""
    return TemporalCli(cli.address, namespace=name)


def _fresh_namespace(cli: TemporalCli) -> TemporalCli:
    return _in_namespace(cli, f"ns-cli-{uuid.uuid4().hex[:10]}")


async def _create(ns: TemporalCli, *flags: str) -> None:
    created = await ns.run("operator", "namespace", "create", *flags)
    assert created.stdout == f"Namespace {ns.namespace} successfully registered.\n"


async def _fails(ns: TemporalCli, *args: str) -> CliResult:
    """Run a command that must fail with exit code 1; its stderr carries the error."""
    return await ns.run(*args, expect_rc=1)


async def _listed_names(cli: TemporalCli) -> list[str]:
    listed: list[dict[str, Any]] = await cli.json("operator", "namespace", "list")
    return [entry["namespaceInfo"]["name"] for entry in listed]


async def test_namespace_lifecycle(cli: TemporalCli) -> None:
    ns = _fresh_namespace(cli)
    name = ns.namespace
    await _create(
        ns, "--description", "first", "--email", "a@example.com", "--retention", "48h",
        "--data", 'team="pay"', "--data", "tier=1",
    )  # fmt: skip

    described = await ns.json("operator", "namespace", "describe")
    info = described["namespaceInfo"]
    assert info["name"] == name
    assert (info["description"], info["ownerEmail"]) == ("first", "a@example.com")
    assert (info["state"], info["data"]) == ("NAMESPACE_STATE_REGISTERED", {"team": '"pay"', "tier": "1"})
    assert described["config"] == {
        "workflowExecutionRetentionTtl": "172800s",
        "badBinaries": {},
        "historyArchivalState": "ARCHIVAL_STATE_DISABLED",
        "visibilityArchivalState": "ARCHIVAL_STATE_DISABLED",
    }
    assert described["replicationConfig"] == {
        "activeClusterName": "active",
        "clusters": [{"clusterName": "active"}],
        "state": "REPLICATION_STATE_NORMAL",
    }
    fields = text_fields((await ns.run("operator", "namespace", "describe")).stdout)
    assert fields["NamespaceInfo.Id"] == info["id"]
    assert fields["NamespaceInfo.State"] == "Registered"
    assert fields["NamespaceInfo.Data"] == 'map[team:"pay" tier:1]'
    assert fields["Config.WorkflowExecutionRetentionTtl"] == "48h0m0s"
    assert fields["ReplicationConfig.State"] == "Normal"
    by_id = await cli.json("operator", "namespace", "describe", "--namespace-id", info["id"])
    assert by_id["namespaceInfo"]["name"] == name

    updated = await ns.run(
        "operator", "namespace", "update", "--description", "second", "--email", "b@example.com",
        "--retention", "72h", "--data", "tier=2", "--data", "region=1",
    )  # fmt: skip
    assert updated.stdout == f"Namespace {name} update succeeded.\n"
    after = await ns.json("operator", "namespace", "describe")
    assert (after["namespaceInfo"]["description"], after["namespaceInfo"]["ownerEmail"]) == (
        "second",
        "b@example.com",
    )
    assert after["namespaceInfo"]["data"] == {"team": '"pay"', "tier": "2", "region": "1"}
    assert after["config"]["workflowExecutionRetentionTtl"] == "259200s"
    same_cluster = await ns.run("operator", "namespace", "update", "--active-cluster", "active")
    assert (
        same_cluster.stdout
        == f"Will set active cluster name to: active.\n\nNamespace {name} update succeeded.\n"
    )

    assert name in await _listed_names(cli)
    listed_text = (await cli.run("operator", "namespace", "list")).stdout
    assert f"  NamespaceInfo.Name                    {name}\n" in listed_text

    deleted = await ns.run("operator", "namespace", "delete", "--yes")
    assert deleted.stdout.endswith(f"Namespace {name} has been deleted.\n")
    gone = await _fails(ns, "operator", "namespace", "describe")
    assert gone.stderr == f"Error: unable to describe namespace {name}: Namespace {name} is not found.\n"
    assert name not in await _listed_names(cli)
    # The name is free again at once.
    await _create(ns)
    await ns.run("operator", "namespace", "delete", "--yes")


async def test_namespace_create_errors(cli: TemporalCli) -> None:
    ns = _fresh_namespace(cli)
    name = ns.namespace
    await _create(ns)
    again = await _fails(ns, "operator", "namespace", "create")
    assert again.stderr == f'Error: unable to create namespace {name}: Namespace "{name}" already exists\n'

    other = _fresh_namespace(cli)
    prefix = f"Error: unable to create namespace {other.namespace}: "
    cases = {
        ("--retention", "59m"): "A valid retention period is not set on request.",
        ("--global",): "Cannot register global namespace when not enabled",
        ("--active-cluster", "elsewhere"): "Invalid cluster name: elsewhere",
    }
    for flags, message in cases.items():
        failed = await _fails(other, "operator", "namespace", "create", *flags)
        assert failed.stderr == f"{prefix}{message}\n"
    await _create(other, "--retention", "1h")  # the shortest retention accepted
    for each in (ns, other):
        await each.run("operator", "namespace", "delete", "--yes")


async def test_namespace_update_errors(cli: TemporalCli) -> None:
    ns = _fresh_namespace(cli)
    name = ns.namespace
    await _create(ns)
    prefix = "Error: namespace update failed: "
    promoted = await _fails(ns, "operator", "namespace", "update", "--promote-global")
    assert promoted.stderr == (
        f"{prefix}global namespace is not enabled on this cluster, cannot update global namespace or "
        f"promote local namespace: {name}\n"
    )
    cases = {
        ("--replication-state", "handover"): "Handover can only be set for global namespace",
        ("--retention", "1s"): "A valid retention period is not set on request.",
        ("--active-cluster", "elsewhere"): "Invalid cluster name: elsewhere",
    }
    for flags, message in cases.items():
        failed = await _fails(ns, "operator", "namespace", "update", *flags)
        assert failed.stderr.endswith(f"{prefix}{message}\n")
    await ns.run("operator", "namespace", "update", "--replication-state", "normal")
    await ns.run("operator", "namespace", "delete", "--yes")
    missing = await _fails(ns, "operator", "namespace", "update", "--description", "x")
    assert missing.stderr == f"{prefix}Namespace {name} is not found.\n"


async def test_namespace_delete_errors(cli: TemporalCli) -> None:
    missing = _fresh_namespace(cli)
    name = missing.namespace
    failed = await _fails(missing, "operator", "namespace", "delete", "--yes")
    assert failed.stderr == f"Error: unable to delete namespace {name}: Namespace {name} is not found.\n"
    system = await _fails(_in_namespace(cli, "temporal-system"), "operator", "namespace", "delete", "--yes")
    assert system.stderr == (
        "Error: unable to delete namespace temporal-system: unable to delete system namespace\n"
    )


async def test_search_attribute_create_list_remove(cli: TemporalCli) -> None:
    ns = _fresh_namespace(cli)
    await _create(ns)
    add = ("operator", "search-attribute", "create")
    added = await ns.run(*add, "--name", "OrderId", "--type", "Keyword")
    assert added.stdout == "Search attributes have been added\n"
    # Adding it again is fine; with another type, the CLI itself refuses.
    await ns.run(*add, "--name", "OrderId", "--type", "Keyword")
    retyped = await _fails(ns, *add, "--name", "OrderId", "--type", "Int")
    assert retyped.stderr == "Error: search attribute OrderId already exists and has different type Keyword\n"
    reserved = await _fails(ns, *add, "--name", "WorkflowId", "--type", "Keyword")
    assert reserved.stderr == (
        "Error: unable to add search attributes: Search attribute WorkflowId is reserved by system.\n"
    )
    await ns.run(*add, "--name", "Amount", "--type", "Double")

    listed = await ns.json("operator", "search-attribute", "list")
    assert listed["customAttributes"] == {
        "Amount": "INDEXED_VALUE_TYPE_DOUBLE",
        "OrderId": "INDEXED_VALUE_TYPE_KEYWORD",
    }
    assert listed["systemAttributes"]["WorkflowId"] == "INDEXED_VALUE_TYPE_KEYWORD"
    rows = table_rows((await ns.run("operator", "search-attribute", "list")).stdout, "Name")
    assert ["OrderId", "Keyword"] in rows
    assert ["Amount", "Double"] in rows

    remove = ("operator", "search-attribute", "remove", "--yes")
    removed = await ns.run(*remove, "--name", "OrderId")
    assert removed.stdout.endswith("Search attributes have been removed\n")
    await ns.run(*remove, "--name", "OrderId")  # removing what is not there is no error
    system = await _fails(ns, *remove, "--name", "WorkflowId")
    assert system.stderr == (
        "Error: unable to remove search attributes: "
        "Unable to remove non-custom search attributes: WorkflowId.\n"
    )
    listed = await ns.json("operator", "search-attribute", "list")
    assert listed["customAttributes"] == {"Amount": "INDEXED_VALUE_TYPE_DOUBLE"}
    await ns.run("operator", "namespace", "delete", "--yes")

    missing = _fresh_namespace(cli)
    unknown = await _fails(missing, *add, "--name", "OrderId", "--type", "Keyword")
    assert unknown.stderr == (
        f"Error: unable to get existing search attributes: Namespace {missing.namespace} is not found.\n"
    )
