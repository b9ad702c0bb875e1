"""Fixed vocabularies: SKUs and prices, node types, runtimes, warehouse sizes, names.

Prices are illustrative list prices (USD) from public samples; see the system-tables reference.
"""

from __future__ import annotations

REGION = "us-east-1"
REGION_TOKEN = "US_EAST_N_VIRGINIA"
CLOUD = "AWS"
CURRENCY = "USD"

# sku_name, usage_unit, billing_origin_product, product_family, is_serverless, list price (USD/unit)
SKUS: tuple[tuple[str, str, str, str, bool, float], ...] = (
    ("PREMIUM_JOBS_COMPUTE", "DBU", "JOBS", "JOBS", False, 0.15),
    ("PREMIUM_JOBS_COMPUTE_(PHOTON)", "DBU", "JOBS", "JOBS", False, 0.15),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "DBU", "ALL_PURPOSE", "ALL_PURPOSE", False, 0.55),
    ("PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)", "DBU", "ALL_PURPOSE", "ALL_PURPOSE", False, 0.55),
    ("PREMIUM_SQL_COMPUTE", "DBU", "SQL", "SQL", False, 0.22),
    (f"PREMIUM_SQL_PRO_COMPUTE_{REGION_TOKEN}", "DBU", "SQL", "SQL", False, 0.55),
    (f"PREMIUM_SERVERLESS_SQL_COMPUTE_{REGION_TOKEN}", "DBU", "SQL", "SQL", True, 0.70),
    (f"PREMIUM_JOBS_SERVERLESS_COMPUTE_{REGION_TOKEN}", "DBU", "JOBS", "JOBS", True, 0.39),
    (f"PREMIUM_DLT_SERVERLESS_COMPUTE_{REGION_TOKEN}", "DBU", "DLT", "DLT", True, 0.36),
    (
        f"PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_{REGION_TOKEN}",
        "DBU",
        "MODEL_SERVING",
        "MODEL_SERVING",
        True,
        0.07,
    ),
    (f"PREMIUM_DATABRICKS_STORAGE_{REGION_TOKEN}", "DSU", "DEFAULT_STORAGE", "STORAGE", True, 0.023),
)
SKU_INDEX = {s[0]: i for i, s in enumerate(SKUS)}
SKU_JOBS, SKU_JOBS_PHOTON = 0, 1
SKU_AP, SKU_AP_PHOTON = 2, 3
SKU_SQL_CLASSIC, SKU_SQL_PRO, SKU_SQL_SERVERLESS = 4, 5, 6
SKU_JOBS_SERVERLESS, SKU_DLT_SERVERLESS, SKU_SERVING, SKU_STORAGE = 7, 8, 9, 10
# The serverless jobs list price rises during the window (a promotional price ends); fact_list_prices
# keeps both rows and usage is priced at the price open at usage_end_time.
PRICE_CHANGE_SKU = SKU_JOBS_SERVERLESS
PRICE_BEFORE_CHANGE = 0.35

# node type, DBU per node-hour, memory GiB
NODE_TYPES: tuple[tuple[str, float, int], ...] = (
    ("m5d.xlarge", 0.69, 16),
    ("m5d.2xlarge", 1.37, 32),
    ("i3.xlarge", 1.0, 30),
    ("i3.2xlarge", 2.0, 61),
    ("r5d.xlarge", 0.9, 32),
    ("r5d.2xlarge", 1.8, 64),
    ("c5d.2xlarge", 1.2, 16),
)
PHOTON_DBU_MULTIPLIER = 2.0

DBR_VERSIONS = ("13.3.x-scala2.12", "14.3.x-scala2.12", "15.4.x-scala2.12", "16.4.x-scala2.12")

WAREHOUSE_SIZES = (
    "2X_SMALL",
    "X_SMALL",
    "SMALL",
    "MEDIUM",
    "LARGE",
    "X_LARGE",
    "2X_LARGE",
    "3X_LARGE",
    "4X_LARGE",
)
# DBU per cluster-hour and relative compute (each size doubles the workers of the previous one).
WAREHOUSE_DBU = (4.0, 6.0, 12.0, 24.0, 40.0, 80.0, 144.0, 272.0, 528.0)
WAREHOUSE_POWER = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
WAREHOUSE_TYPES = ("CLASSIC", "PRO", "SERVERLESS")
CONCURRENT_QUERIES_PER_CLUSTER = 10

FIRST_NAMES = (
    "alex",
    "maria",
    "john",
    "li",
    "priya",
    "omar",
    "sofia",
    "lucas",
    "emma",
    "noah",
    "ava",
    "mateo",
    "yuki",
    "fatima",
    "david",
    "chen",
    "anna",
    "ivan",
    "sara",
    "kofi",
    "nina",
    "raj",
    "julia",
    "tom",
)
LAST_NAMES = (
    "smith",
    "garcia",
    "wang",
    "patel",
    "muller",
    "rossi",
    "kim",
    "silva",
    "novak",
    "okafor",
    "tanaka",
    "brown",
    "lopez",
    "nguyen",
    "kumar",
    "martin",
    "schmidt",
    "costa",
    "jensen",
    "ali",
)
DOMAIN = "acme-corp.com"
TEAMS = ("data-eng", "analytics", "ml", "finance", "marketing", "platform", "risk", "sales-ops")
COST_CENTERS = ("CC-1001", "CC-1002", "CC-2040", "CC-3100", "CC-4200", "CC-5000")
JOB_VERBS = ("ingest", "transform", "aggregate", "export", "refresh", "score", "sync", "validate", "load")
JOB_OBJECTS = (
    "orders",
    "customers",
    "events",
    "payments",
    "inventory",
    "sessions",
    "clicks",
    "invoices",
    "ledger",
    "features",
    "campaigns",
    "shipments",
    "tickets",
    "devices",
    "subscriptions",
)
TASK_KEYS = ("extract", "clean", "transform", "join", "aggregate", "validate", "publish", "notify")

CATALOG_NAMES = ("main", "prod", "finance", "marketing", "ml", "sales")
SCHEMA_NAMES = (
    "raw",
    "bronze",
    "silver",
    "gold",
    "reporting",
    "ml_features",
    "crm",
    "billing",
    "ops",
    "hr",
    "web",
    "risk",
)
TABLE_NAMES = (
    "orders",
    "customers_pii",
    "events",
    "payments_sensitive",
    "inventory",
    "sessions",
    "clicks",
    "invoices",
    "ledger",
    "user_profiles_pii",
    "campaigns",
    "shipments",
    "tickets",
    "devices",
    "subscriptions",
    "products",
    "refunds",
    "employees_sensitive",
    "accounts",
    "transactions",
)
# column name, data_type, full_data_type
COLUMN_TYPES: tuple[tuple[str, str, str], ...] = (
    ("STRING", "STRING", "string"),
    ("LONG", "LONG", "bigint"),
    ("INT", "INT", "int"),
    ("DOUBLE", "DOUBLE", "double"),
    ("DECIMAL", "DECIMAL", "decimal(18,2)"),
    ("DATE", "DATE", "date"),
    ("TIMESTAMP", "TIMESTAMP", "timestamp"),
    ("BOOLEAN", "BOOLEAN", "boolean"),
)
COLUMN_NAMES = (
    "amount",
    "status",
    "country",
    "created_at",
    "updated_at",
    "email",
    "channel",
    "quantity",
    "price",
    "currency",
    "category",
    "region",
    "is_active",
    "score",
    "event_type",
    "device",
    "discount",
    "notes",
    "segment",
    "source",
    "order_date",
    "tier",
    "balance",
    "rating",
)

USER_AGENTS_HUMAN = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "databricks-cli/0.221.1 databricks-sdk-go/0.41.0 go/1.22",
)
USER_AGENTS_SERVICE = (
    "databricks-sdk-py/0.29.0 python/3.11.7 os/linux auth/oauth-m2m",
    "Terraform/1.8.5 databricks-tf-provider/1.48.0",
    "dbt-databricks/1.8.3 databricks-sql-connector/3.1.2",
    "Apache-HttpClient/4.5.14 (Java/17.0.11)",
)
USER_AGENTS_ATTACKER = ("python-requests/2.31.0", "curl/8.4.0")
