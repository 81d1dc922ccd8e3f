#!/usr/bin/env python3
"""The tables of o365flow's audit report, computed by Apache Spark over flow trees of any number
of sensors and weeks.

Input: one or more flow trees written by `o365flow analyze --out DIR --partition site=NAME
--partition date` (DIR/flows/site=.../date=.../part-*.parquet), local paths or object storage
URLs Spark can read (s3a://, abfss://, gs://, hdfs://). Also Microsoft's endpoint catalog JSON
(the one o365flow judged the flows with) for the firewall-rule table and the required flag.

Output (Parquet, one directory per table under --out):
  verdict/   service_area, port_verdict, flows, bytes, clients, share_of_o365_bytes
  ports/     service_area, port, port_listed, flows, bytes, clients
  firewall/  endpoint_id, service_area, category, required, tcp_ports, udp_ports, names,
             ipv4_prefixes, ipv6_prefixes, observed_ports, flows, bytes
  tenants/   tenant, own (declared | presumed | no), names, flows, bytes, clients
  names/     service_area, name (read | hidden | address-only), how, flows, bytes,
             share_of_flows, share_of_bytes (of the service area's Office 365 flows and bytes)
  findings/  kind, flows   (finding types with at least one flow, as o365flow report counts them;
             not nat-pressure, whose concurrency sweep stays with o365flow report)

The rules are o365flow's (src/report/audit/): Office 365 traffic is a flow matched to a set of
Microsoft's catalog (not only to the admin's --catalog-extra entries); `port` is transport/port;
clients are distinct client addresses. tests/spark.rs checks the tables against `o365flow report`
over the same trees, value for value.

Run: spark-submit scale/spark/o365flow_tables.py --catalog CATALOG.json --out OUT TREE [TREE...]
"""

import argparse
import ipaddress
import json
import os
import sys

from pyspark.sql import SparkSession, functions as F, types as T

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ISSUERS = os.path.join(HERE, "..", "..", "src", "report", "audit", "data", "microsoft-issuers.txt")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trees", nargs="+", help="flow trees (DIR/flows of analyze --out --partition)")
    p.add_argument("--catalog", required=True, help="Microsoft endpoint catalog JSON")
    p.add_argument("--issuers", default=DEFAULT_ISSUERS, help="Microsoft certificate issuers list")
    p.add_argument("--out", required=True, help="output directory (Parquet per table)")
    p.add_argument("--master", default=None, help="Spark master when not set by spark-submit")
    p.add_argument(
        "--tenant",
        action="append",
        default=[],
        help="the company's own tenant (repeatable), the tenant itself (contoso, not "
        "contoso.onmicrosoft.com); without it the tenant with the most clients is presumed the "
        "company's own (the job does not read the tenants a run declared from the flow files' "
        "metadata)",
    )
    return p.parse_args(argv)


def port_text(ports):
    """The catalog's port list as o365flow writes it: `80,443`, `3478-3481` (spaces dropped)."""
    parts = []
    for part in (ports or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = (x.strip() for x in part.split("-", 1))
            parts.append(lo if lo == hi else f"{lo}-{hi}")
        else:
            parts.append(part)
    return ",".join(parts)


def catalog_rows(path):
    """Endpoint sets of Microsoft's JSON, one row each, in the firewall table's text forms."""
    with open(path, encoding="utf-8") as f:
        sets = json.load(f)
    rows = []
    for s in sets:
        nets = [ipaddress.ip_interface(ip) for ip in s.get("ips", [])]
        rows.append(
            (
                int(s["id"]),
                s["serviceArea"],
                s["category"],
                bool(s.get("required", False)),
                port_text(s.get("tcpPorts")),
                port_text(s.get("udpPorts")),
                " ".join(s.get("urls", [])),
                " ".join(str(n) for n in nets if n.version == 4),
                " ".join(str(n) for n in nets if n.version == 6),
            )
        )
    return rows


CATALOG_SCHEMA = T.StructType(
    [
        T.StructField("endpoint_id", T.LongType()),
        T.StructField("set_service_area", T.StringType()),
        T.StructField("category_of_set", T.StringType()),
        T.StructField("required", T.BooleanType()),
        T.StructField("tcp_ports", T.StringType()),
        T.StructField("udp_ports", T.StringType()),
        T.StructField("names", T.StringType()),
        T.StructField("ipv4_prefixes", T.StringType()),
        T.StructField("ipv6_prefixes", T.StringType()),
    ]
)


def issuers(path):
    with open(path, encoding="utf-8") as f:
        return [
            line.strip().lower()
            for line in f
            if line.strip() and not line.strip().startswith("#")
        ]


def flows_of(spark, trees):
    df = None
    for tree in trees:
        part = spark.read.option("basePath", tree).parquet(tree)
        df = part if df is None else df.unionByName(part, allowMissingColumns=True)
    bytes_ = (F.col("bytes_c2s") + F.col("bytes_s2c")).cast("long")
    # Flow files before schema 3 have no `path`: every flow was judged as direct.
    if "path" not in df.columns:
        df = df.withColumn("path", F.lit("direct"))
    # The port a flow is judged on: a proxied flow's target port (a proxy carries TCP).
    target_port = F.regexp_extract(F.coalesce(F.col("proxy_target"), F.lit("")), r":([0-9]+)$", 1)
    target_port = F.when(
        (target_port != "") & (target_port.cast("long") <= 65535), target_port.cast("long").cast("string")
    )
    port = F.when(
        (F.col("path") == "proxy") & target_port.isNotNull(),
        F.concat(F.lit("tcp/"), target_port),
    ).otherwise(F.concat(F.col("transport"), F.lit("/"), F.col("server_port").cast("string")))
    # Flow files before schema 5 have no `tenant`; o365flow report reads it from the names.
    if "tenant" not in df.columns:
        df = df.withColumn("tenant", F.lit(None).cast("string"))
    o365 = F.col("service_area").isNotNull() & (
        F.col("matched_by").isNull() | (F.col("matched_by") != F.lit("user"))
    )
    return (
        df.withColumn("bytes", bytes_)
        .withColumn("port", port)
        .withColumn("o365", o365)
    )


def without_port(column):
    return F.regexp_replace(F.col(column), r":[0-9]+$", "")


def tenants(o365, declared):
    """Tenants reached (src/report/audit/tenants.rs): per tenant the names it came from (the
    first present of SNI, HTTP host, proxy target host, DNS name; lower case), flows, bytes,
    clients; the company's own declared, else presumed (most clients, then bytes, then name).
    Returns the table and the number of flows to other tenants (the foreign-tenants finding)."""
    name = F.lower(
        F.coalesce(F.col("sni"), without_port("http_host"), without_port("proxy_target"), F.col("dns_name"))
    )
    per = (
        o365.filter(F.col("tenant").isNotNull())
        .withColumn("name", name)
        .groupBy("tenant")
        .agg(
            F.concat_ws(" ", F.array_sort(F.collect_set("name"))).alias("names"),
            F.count(F.lit(1)).cast("long").alias("flows"),
            F.sum("bytes").cast("long").alias("bytes"),
            F.countDistinct("client_ip").cast("long").alias("clients"),
        )
    )
    if declared:
        own, how = list(declared), "declared"
    else:
        first = per.orderBy(F.desc("clients"), F.desc("bytes"), F.asc("tenant")).first()
        own, how = ([first["tenant"]] if first else []), "presumed"
    table = per.withColumn(
        "own", F.when(F.col("tenant").isin(own), F.lit(how)).otherwise(F.lit("no"))
    ).select("tenant", "own", "names", "flows", "bytes", "clients")
    foreign = table.filter(F.col("own") == "no").agg(F.sum("flows")).first()[0] or 0
    return table, int(foreign)


NAME_GROUPS = {
    "tls-sni": "read",
    "quic-sni": "read",
    "proxy-target": "read",
    "http-host": "read",
    "ech": "hidden",
    "cut-handshake": "hidden",
    "no-sni": "hidden",
    "before-capture": "hidden",
    "no-handshake": "address-only",
    "no-name-in-protocol": "address-only",
}


def name_visibility(o365):
    """Per flow how its server name was known (src/report/audit/visibility.rs), in the same
    order of checks; adds `how` and `name` (its group)."""
    app = F.coalesce(F.col("app_protocol"), F.lit(""))
    handshake = app.isin("tls", "quic")
    syn = (F.col("transport") == "tcp") & F.coalesce(F.col("tcp_flags_c2s"), F.lit("")).contains("S")
    how = (
        F.when(F.coalesce(F.col("ech"), F.lit(False)), F.lit("ech"))
        .when(F.col("sni").isNotNull(), F.when(app == "quic", F.lit("quic-sni")).otherwise(F.lit("tls-sni")))
        .when((F.col("path") == "proxy") & F.col("proxy_target").isNotNull(), F.lit("proxy-target"))
        .when(F.col("http_host").isNotNull(), F.lit("http-host"))
        .when(F.coalesce(F.col("tls_incomplete"), F.lit(False)), F.lit("cut-handshake"))
        .when(handshake & F.col("ja4").isNotNull(), F.lit("no-sni"))
        .when(handshake & syn, F.lit("no-handshake"))
        .when(handshake, F.lit("before-capture"))
        .otherwise(F.lit("no-name-in-protocol"))
    )
    group = F.create_map(*[F.lit(x) for kv in NAME_GROUPS.items() for x in kv])
    return o365.withColumn("how", how).withColumn("name", group[F.col("how")])


def names_table(named):
    per = named.groupBy("service_area", "name", "how").agg(
        F.count(F.lit(1)).cast("long").alias("flows"),
        F.sum("bytes").cast("long").alias("bytes"),
    )
    area = named.groupBy("service_area").agg(
        F.count(F.lit(1)).cast("long").alias("area_flows"),
        F.sum("bytes").cast("long").alias("area_bytes"),
    )
    share = lambda part, whole: F.when(F.col(whole) > 0, F.col(part) / F.col(whole)).otherwise(F.lit(0.0))
    return per.join(area, "service_area").select(
        "service_area",
        "name",
        "how",
        "flows",
        "bytes",
        share("flows", "area_flows").alias("share_of_flows"),
        share("bytes", "area_bytes").alias("share_of_bytes"),
    )


def address_only_flows(named):
    """The coverage finding: address-only flows of Optimize and of Allow, counted for each
    category whose address-only bytes exceed 10% of its bytes."""
    total = 0
    for category in ("Optimize", "Allow"):
        row = (
            named.filter(F.col("category") == category)
            .agg(
                F.sum("bytes").alias("all"),
                F.sum(F.when(F.col("name") == "address-only", F.col("bytes")).otherwise(0)).alias("only"),
                F.sum(F.when(F.col("name") == "address-only", 1).otherwise(0)).alias("flows"),
            )
            .first()
        )
        all_bytes, only, flows = (row["all"] or 0), (row["only"] or 0), (row["flows"] or 0)
        if all_bytes > 0 and float(only) > 0.10 * float(all_bytes):
            total += int(flows)
    return total


def tally(df, keys):
    return df.groupBy(*keys).agg(
        F.count(F.lit(1)).cast("long").alias("flows"),
        F.sum("bytes").cast("long").alias("bytes"),
        F.countDistinct("client_ip").cast("long").alias("clients"),
    )


def quic_blocked(o365):
    """QUIC to names listed for UDP 443, never answered, then TCP 443 from the same client to
    the same name, starting between the QUIC flow's start and 30 s after its end (times are
    nanoseconds since the epoch: the session reads Parquet nanosecond timestamps as longs)."""
    name = F.lower(F.coalesce(F.col("sni"), F.col("http_host"), F.col("dns_name")))
    quic = (
        o365.filter(
            (F.col("port") == "udp/443")
            & (F.col("app_protocol") == "quic")
            & F.col("port_listed")
            & ~F.col("server_answered")
            & name.isNotNull()
        )
        .withColumn("quic_id", F.monotonically_increasing_id())
        .select(
            "quic_id",
            "client_ip",
            name.alias("name"),
            F.col("first_seen").alias("q_start"),
            F.col("last_seen").alias("q_end"),
        )
    )
    tcp = o365.filter((F.col("port") == "tcp/443") & name.isNotNull()).select(
        F.col("client_ip").alias("t_client"),
        name.alias("t_name"),
        F.col("first_seen").alias("t_start"),
    )
    fell_back = quic.join(
        tcp,
        (quic.client_ip == tcp.t_client)
        & (quic.name == tcp.t_name)
        & (tcp.t_start >= quic.q_start)
        & (tcp.t_start <= quic.q_end + 30_000_000_000),
    )
    return fell_back.select("quic_id").distinct().count()


def findings(flows, o365, catalog, issuer_list, foreign_tenant_flows, address_only):
    """Flows per finding type, with o365flow's rules (src/report/audit/findings.rs)."""
    counts = {}

    counts["exotic-ports"] = o365.filter(F.col("port_verdict") == "exotic").count()

    teams = o365.filter(F.col("service_area") == "Skype")
    over_tcp = (
        teams.filter((F.col("port") == "tcp/443") & (F.col("outcome") == "established"))
        .select("client_ip")
        .distinct()
    )
    counts["media-fallback"] = (
        teams.filter(
            (F.col("transport") == "udp")
            & F.col("server_port").between(3478, 3481)
            & (F.col("outcome") != "established")
        )
        .join(over_tcp, "client_ip", "left_semi")
        .count()
    )

    counts["quic-blocked"] = quic_blocked(o365)

    counts["non-tls-443"] = flows.filter(
        (F.col("port_verdict") == "non-tls-443") & (F.col("outcome") == "established")
    ).count()

    counts["optimize-via-proxy"] = o365.filter(
        (F.col("path") == "proxy") & (F.col("category") == "Optimize")
    ).count()

    issuer = F.lower(F.col("cert_issuer"))
    known = F.lit(False)
    for name in issuer_list:
        known = known | issuer.contains(name)
    counts["tls-inspection"] = flows.filter(
        (F.col("o365") | (F.col("microsoft") == "unlisted"))
        & F.col("cert_issuer").isNotNull()
        & ~known
    ).count()

    required = catalog.filter(F.col("required")).select("endpoint_id")
    counts["blocked-required"] = (
        o365.filter(F.col("outcome").isNotNull() & (F.col("outcome") != "established"))
        .join(required, "endpoint_id", "left_semi")
        .count()
    )

    counts["unlisted-microsoft"] = flows.filter(F.col("microsoft") == "unlisted").count()
    counts["published-services"] = flows.filter(F.col("published_service").isNotNull()).count()

    app = F.col("app_protocol")
    port = F.col("server_port")
    legacy = (
        app.isin("pop3", "imap", "smtp", "sip")
        | ((app == "tls") & port.isin(995, 993, 465))
        | (F.coalesce(F.col("client_app"), F.lit("")) == "skype-for-business")
        | (F.col("tls_version").isin("1.0", "1.1", "ssl3", "ssl2") & F.col("o365"))
    )
    counts["legacy-protocols"] = flows.filter(legacy).count()

    counts["coverage"] = address_only
    counts["foreign-tenants"] = foreign_tenant_flows
    return [(kind, int(n)) for kind, n in counts.items() if n > 0]


def main(argv):
    args = parse_args(argv)
    # o365flow writes nanosecond UTC timestamps; Spark reads them as longs with this setting.
    builder = SparkSession.builder.appName("o365flow-tables").config(
        "spark.sql.legacy.parquet.nanosAsLong", "true"
    )
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")

    flows = flows_of(spark, args.trees).cache()
    o365 = flows.filter(F.col("o365"))
    catalog = spark.createDataFrame(catalog_rows(args.catalog), CATALOG_SCHEMA)

    o365_bytes = o365.agg(F.sum("bytes")).first()[0] or 0
    verdict = tally(o365, ["service_area", "port_verdict"]).withColumn(
        "share_of_o365_bytes",
        F.when(F.lit(o365_bytes) > 0, F.col("bytes") / F.lit(o365_bytes)).otherwise(F.lit(0.0)),
    )
    ports = tally(o365, ["service_area", "port", "port_listed"])

    observed = o365.groupBy("endpoint_id").agg(
        F.count(F.lit(1)).cast("long").alias("flows"),
        F.sum("bytes").cast("long").alias("bytes"),
        F.concat_ws(" ", F.array_sort(F.collect_set("port"))).alias("observed_ports"),
    )
    # Admin's own entries (--catalog-extra) have ids outside Microsoft's catalog: no rule.
    firewall = observed.join(catalog, "endpoint_id", "inner").select(
        "endpoint_id",
        F.col("set_service_area").alias("service_area"),
        F.col("category_of_set").alias("category"),
        "required",
        "tcp_ports",
        "udp_ports",
        "names",
        "ipv4_prefixes",
        "ipv6_prefixes",
        "observed_ports",
        "flows",
        "bytes",
    )

    tenant_table, foreign_flows = tenants(o365, [t.lower() for t in args.tenant])
    named = name_visibility(o365).cache()
    names = names_table(named)
    found = spark.createDataFrame(
        findings(flows, o365, catalog, issuers(args.issuers), foreign_flows, address_only_flows(named)),
        T.StructType([T.StructField("kind", T.StringType()), T.StructField("flows", T.LongType())]),
    )

    for name, table, order in [
        ("verdict", verdict, ["service_area", F.desc("bytes")]),
        ("ports", ports, ["service_area", F.desc("bytes")]),
        ("firewall", firewall, ["endpoint_id"]),
        ("tenants", tenant_table, [F.desc("bytes"), "tenant"]),
        ("names", names, ["service_area", "name", F.desc("bytes")]),
        ("findings", found, ["kind"]),
    ]:
        table.orderBy(*order).coalesce(1).write.mode("overwrite").parquet(
            os.path.join(args.out, name)
        )
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
