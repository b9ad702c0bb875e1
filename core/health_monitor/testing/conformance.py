"""The conformance suite every plugin runs: its specs are valid, its models honour the
estimator contract, and they train, evaluate and score end to end on a simulated account."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from health_monitor.models.modeling import OUTPUT_COLUMNS, ScoringModel
from health_monitor.sdk.specs import Model, ProblemType

STANDARD_COLUMNS = {"model_name", "model_version", "scored_at", "prediction"}


def synthetic_training_frame(
    spec: Model, rows: int = 240, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series | None]:
    """Random inputs with the model's feature names (some nulls), and a label that depends on them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, len(spec.feature_names))), columns=list(spec.feature_names))
    X.iloc[::17, 0] = np.nan
    signal = X.fillna(0).iloc[:, 0] + 0.5 * rng.normal(size=rows)
    if spec.problem_type is ProblemType.CLASSIFICATION:
        return X, (signal > signal.quantile(0.7)).astype(int)
    if spec.problem_type is ProblemType.MULTICLASS:
        return X, pd.Series(
            np.where(signal > signal.quantile(0.6), "high", np.where(signal < 0, "low", "mid"))
        )
    if spec.problem_type is ProblemType.REGRESSION:
        return X, np.exp(signal) + 1.0
    return X, None


def body_for(fields: dict[str, str], row: Any) -> dict[str, str]:
    """The endpoint request naming ``row``'s entity (a prediction row): each of ``fields``
    (``ScoringService.fields[model]``) as text, dates as ``YYYY-MM-DD``."""
    return {f: str(row[f])[:10] if kind == "date" else str(row[f]) for f, kind in fields.items()}


class PluginConformance:
    """Subclass with ``plugin_name = "<entry point name>"``; every test then runs for that plugin.

    Checks of one model are parametrized by its name, so ``pytest plugins/<domain> -k <model>``
    runs just that model's checks (the shared trained home still trains every installed model)."""

    plugin_name: str = ""
    # Feature tables with a known look-ahead, each with the reason: their point-in-time test is a
    # strict expected failure, so it fails the day the leak is fixed and the entry must go.
    known_leaks: dict[str, str] = {}
    # How many agent tools the plugin must ship for its domain's toolkit.
    min_tools: int = 0

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_host(cls):
        from health_monitor.host import load_host

        return load_host()

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_models(cls, plugin_host) -> list[Model]:
        names = plugin_host.models_of(cls.plugin_name)
        return [plugin_host.models[n].spec for n in names]

    def pytest_generate_tests(self, metafunc) -> None:
        """A test that takes ``model_name`` runs once per model of the plugin."""
        if "model_name" in metafunc.fixturenames:
            from health_monitor.host import load_host

            metafunc.parametrize("model_name", load_host().models_of(self.plugin_name))

    @pytest.fixture
    def spec(self, plugin_host, model_name) -> Model:
        return plugin_host.models[model_name].spec

    def test_loads_without_problems(self, plugin_host):
        assert self.plugin_name in {p.name for p in plugin_host.plugins}, (
            f"plugin {self.plugin_name} is not installed"
        )
        problems = [str(p) for p in plugin_host.problems if p.plugin.name == self.plugin_name]
        assert problems == []

    def test_has_a_version_and_distribution(self, plugin_host):
        info = plugin_host.plugin_set.infos[self.plugin_name]
        assert info.distribution == f"health-monitor-{self.plugin_name}"
        assert info.version and info.version[0].isdigit()

    def test_registers_models_of_its_domain(self, plugin_models):
        assert plugin_models, f"plugin {self.plugin_name} registers no model"
        for spec in plugin_models:
            assert spec.domain == self.plugin_name

    def test_a_supervised_model_has_labels(self, plugin_host, spec):
        if spec.problem_type is not ProblemType.ANOMALY_DETECTION:
            assert spec.name in plugin_host.labels, f"{spec.name} has no registered labels"

    def test_estimators_follow_the_sklearn_contract(self, spec):
        for make, is_model in ((spec.estimator, True), (spec.baseline, False)):
            estimator = make()
            params = estimator.get_params()
            twin = clone(estimator)
            assert twin.get_params().keys() == params.keys()
            X, y = synthetic_training_frame(spec)
            extra = {"inputs": list(spec.input_names), "enrich": spec.enrich, "outputs": spec.outputs}
            fitted = ScoringModel.fit(twin, spec.problem_type, X, y, **(extra if is_model else {}))
            out = fitted.predict(X.head(25))
            assert list(out.columns) == [n for n, _ in fitted.output_columns]
            standard = out[[n for n, _ in OUTPUT_COLUMNS[spec.problem_type] if n != "predicted_class"]]
            assert len(out) == 25 and np.isfinite(standard.to_numpy(dtype="float64")).all()
            # The estimator the spec hands out stays unfitted: the core clones, never shares.
            assert not any(k.endswith("_") and not k.startswith("_") for k in vars(estimator))

    def test_a_calibrated_detector_meets_its_alarm_budget_on_normal_days(self, spec):
        """On unseen days like its training days, a :class:`CalibratedDetector` raises about its
        alarm budget (alarms per entity per 30 days): within a factor of 1.5, either way."""
        from health_monitor.sdk import CalibratedDetector

        if not isinstance(spec.estimator(), CalibratedDetector):
            pytest.skip(f"{spec.name} is not a calibrated detector")
        columns = list(spec.input_names)
        rng = np.random.default_rng(3)
        scale = rng.gamma(2.0, 1.0, size=len(columns))  # one distribution for every day

        def normal_days(rows: int) -> pd.DataFrame:
            # Skewed, non-negative and partly discrete, like daily counts and ratios: gamma
            # values per column, Poisson counts around them on every other column.
            values = rng.gamma(2.0, 1.0, size=(rows, len(columns))) * scale
            counts = rng.poisson(values * 4) / 4.0
            return pd.DataFrame(np.where(np.arange(len(columns)) % 2, counts, values), columns=columns)

        for budget in (1.0, 3.0):
            detector = clone(spec.estimator()).set_params(alarm_budget=budget)
            fitted = ScoringModel.fit(detector, spec.problem_type, normal_days(4000), inputs=columns)
            rate = float(fitted.predict(normal_days(20000))["prediction"].mean())
            target = budget / 30
            assert target / 1.5 <= rate <= target * 1.5, (spec.name, budget, rate, target)

    def test_explanations_name_the_models_features(self, spec):
        X, y = synthetic_training_frame(spec)
        fitted = ScoringModel.fit(
            clone(spec.estimator()), spec.problem_type, X, y, inputs=list(spec.input_names)
        )
        explained = fitted.explain(X.head(3), top_k=3)
        assert len(explained) == 3
        for row in explained:
            assert 1 <= len(row) <= 3
            assert {c.feature for c in row} <= set(spec.input_names)
            weights = [abs(c.weight) for c in row]
            assert weights == sorted(weights, reverse=True)

    def test_trains_evaluates_and_scores_on_a_simulated_account(self, trained_home, spec):
        runtime, host, result = trained_home
        items = {(i.stage, i.item): i for r in result.reports for i in r.items}
        train = items[("train", spec.name)]
        assert train.ok, f"training {spec.name} failed: {train.error}\n{train.traceback}"
        assert train.details["train_rows"] > 0 and train.details["test_rows"] > 0
        if spec.problem_type is not ProblemType.ANOMALY_DETECTION or runtime.tables.has_ground_truth():
            assert train.details["metrics"], f"{spec.name} was not evaluated"
            assert train.details["baseline_metrics"], f"{spec.name}'s baseline was not evaluated"
        infer = items[("infer", spec.name)]
        assert infer.ok, f"scoring {spec.name} failed: {infer.error}\n{infer.traceback}"
        if train.details["alias"] != "champion":
            # The champion gate held the version back (it loses to its baseline outside the
            # noise): infer skips the model and says how to promote it. It must still score.
            assert "promote" in infer.details.get("skipped", ""), infer.details
            self._score_held_back(runtime, spec, train.details["version"])
            return
        table = runtime.lakehouse.read_arrow(runtime.settings.predictions(spec.name)).to_pandas()
        assert len(table) == infer.details["rows"] > 0
        expected = (
            STANDARD_COLUMNS
            | {n for n, _ in OUTPUT_COLUMNS[spec.problem_type]}
            | {n for n, _ in spec.outputs}
            | set(spec.keys)
        )
        assert expected <= set(table.columns)
        assert not table.duplicated(list(spec.keys)).any()
        assert (table["model_name"] == spec.name).all()
        assert table["model_version"].eq(train.details["version"]).all()

    @staticmethod
    def _score_held_back(runtime, spec: Model, version: int) -> None:
        from health_monitor.pipelines.train import model_base

        runtime.registry.configure()  # models:/ URIs resolve in the process's registry: this home's
        uri = f"models:/{runtime.settings.registered_model(spec.name)}/{version}"
        scored = (
            runtime.feature_store.score_batch(model_uri=uri, df=model_base(runtime, spec))
            .limit(50)
            .toPandas()
        )
        assert len(scored) > 0 and {n for n, _ in OUTPUT_COLUMNS[spec.problem_type]} <= set(scored.columns)

    @staticmethod
    def _require_champion(runtime, spec: Model) -> None:
        """Only champions are served, explained and read by the tools; the gate may hold back a
        model that loses to its baseline (checked, and scored, in the training test)."""
        from health_monitor.registry import CHAMPION

        if not runtime.registry.version_by_alias(runtime.settings.registered_model(spec.name), CHAMPION):
            pytest.skip(f"{spec.name} has no champion: the gate held it back")

    def test_feature_tables_hold_unique_keys(self, trained_home, plugin_host):
        runtime, _, _ = trained_home
        for name, owned in plugin_host.feature_tables.items():
            if owned.plugin.name != self.plugin_name:
                continue
            table = runtime.lakehouse.read_arrow(runtime.settings.feature_table(name)).to_pandas()
            keys = list(owned.spec.primary_keys)
            assert len(table) > 0, f"feature table {name} is empty on the simulated account"
            assert not table[keys].isna().any().any()
            assert not table.duplicated(keys).any()

    def _dated_tables(self, runtime, plugin_host, day_column: bool = False):
        """This plugin's feature tables with a timestamp key (and with ``day_column``, those with
        a day column): (name, spec, rows as written, days)."""
        for name, owned in sorted(plugin_host.feature_tables.items()):
            table = owned.spec
            days_by = table.days_by if day_column else table.timestamp_key
            if owned.plugin.name != self.plugin_name or days_by is None:
                continue
            full = runtime.lakehouse.read_arrow(runtime.settings.feature_table(name)).to_pandas()
            yield name, table, full, sorted(pd.to_datetime(full[days_by]).dt.date.unique())

    def test_feature_tables_are_point_in_time(self, trained_home, plugin_host):
        """Rows up to a cutoff are the same when computed from Gold as it stood at the cutoff."""
        from health_monitor.testing.pointintime import GoldAsOf, leaks

        runtime, _, _ = trained_home
        known = []
        for name, table, full, days in self._dated_tables(runtime, plugin_host):
            cutoff = days[int(len(days) * 0.6)]
            as_of = table.compute(GoldAsOf(runtime.tables, cutoff)).toPandas()
            found = leaks(table, full, as_of, cutoff)
            if name in self.known_leaks:
                assert found, f"{name} no longer looks ahead: remove it from known_leaks"
                known.append(f"{name}: {self.known_leaks[name]} (differing per column: {found})")
                continue
            assert not found, f"{name} looks past {cutoff}: rows differing per column {found}"
        if known:
            pytest.xfail("known look-ahead: " + "; ".join(known))

    def test_lookback_days_are_enough(self, trained_home, plugin_host):
        """A table that declares ``lookback_days`` or reads ``rows_from()`` gives the same rows
        from a day on when it reads Gold only from that many days before it and is told that
        day, as the daily run has it do."""
        import datetime as dt

        from health_monitor.pipelines.refresh import RecordingTables
        from health_monitor.testing.pointintime import differing_rows

        class Asking(RecordingTables):
            asked = False  # whether the compute asked for rows_from()

            def rows_from(self):
                self.asked = True
                return super().rows_from()

        runtime, _, _ = trained_home
        checked = 0
        for name, table, full, days in self._dated_tables(runtime, plugin_host, day_column=True):
            since = days[int(len(days) * 0.8)]
            cutoff = None if table.lookback_days is None else since - dt.timedelta(days=table.lookback_days)
            assert cutoff is None or cutoff > days[0], (
                f"{name}: the simulated account is too short to check {since}"
            )
            tables = Asking(runtime, cutoff=cutoff, rows_from=since)
            recent = table.compute(tables)  # lazy: built, not run
            if cutoff is None and not tables.asked:
                continue  # all of Gold, every row: what `full` holds
            found = differing_rows(
                table.primary_keys,
                table.days_by,
                full,
                recent.toPandas(),
                lambda day, since=since: day >= since,
            )
            how = (
                f"reading Gold from {cutoff} ({table.lookback_days} days before)"
                if cutoff
                else "from all of Gold"
            )
            assert not found, (
                f"{name}: from {since} on, {how}, told rows_from() {since}, gives other rows, "
                f"differing per column: {found}"
            )
            checked += 1
        if not checked:
            pytest.skip("no feature table of this plugin declares lookback_days or reads rows_from()")

    @staticmethod
    def _gold_read(runtime, build) -> set[str]:
        """The Gold tables ``build(tables)`` reads (lazily: the frame is built, not run)."""
        from health_monitor.errors import TableNotFoundError
        from health_monitor.gold.contract import GOLD_TABLES
        from health_monitor.pipelines.refresh import RecordingTables

        tables = RecordingTables(runtime)
        try:
            build(tables)
        except TableNotFoundError as exc:  # a Gold table no installed plugin declares is not built
            pytest.fail(f"{exc}: add the Gold tables it reads to its sources")
        gold = {runtime.settings.gold(name): name for name in GOLD_TABLES}
        return {gold[name] for name in tables.versions if name in gold}

    def test_feature_tables_read_only_their_sources(self, trained_home, plugin_host):
        """`gold` builds only the Gold tables the installed plugins declare: a feature table that
        read another would find it missing on a home without the plugin that declares it."""
        runtime, _, _ = trained_home
        for name, owned in sorted(plugin_host.feature_tables.items()):
            if owned.plugin.name != self.plugin_name:
                continue
            undeclared = self._gold_read(runtime, owned.spec.compute) - set(owned.spec.sources)
            assert not undeclared, (
                f"feature table {name} reads Gold {sorted(undeclared)}: add them to its sources"
            )

    def test_base_and_labels_read_only_declared_gold(self, trained_home, plugin_host, spec):
        """A model's ``base`` and labels read only Gold tables that it or its lookups' feature
        tables declare in their ``sources``."""
        runtime, _, _ = trained_home
        declared = set(spec.sources)
        declared |= {s for lk in spec.lookups for s in plugin_host.feature_tables[lk.table].spec.sources}
        read = self._gold_read(runtime, spec.base)
        labels = plugin_host.labels.get(spec.name)
        if labels is not None:
            read |= self._gold_read(runtime, labels.spec.compute)
        undeclared = read - declared
        assert not undeclared, f"model {spec.name} reads Gold {sorted(undeclared)}: add them to its sources"

    def test_model_lookback_days_are_enough(self, trained_home, spec):
        """A model that declares ``lookback_days`` gets the same keys from a day on when its base
        reads Gold only from that many days before it, as the daily run's inference has it do."""
        import datetime as dt

        from health_monitor.pipelines.refresh import RecordingTables
        from health_monitor.pipelines.train import model_base
        from health_monitor.testing.pointintime import differing_rows

        if spec.lookback_days is None:
            pytest.skip(f"{spec.name} does not declare lookback_days")
        runtime, _, _ = trained_home
        full = model_base(runtime, spec).toPandas()
        days = sorted(pd.to_datetime(full[spec.time_column]).dt.date.unique())
        # A day well inside the history, and the last (the day to forecast, whose keys are the
        # entities active within the days before it).
        for since in (days[int(len(days) * 0.8)], days[-1]):
            cutoff = since - dt.timedelta(days=spec.lookback_days)
            assert cutoff > days[0], f"{spec.name}: the simulated account is too short to check {since}"
            recent = model_base(runtime, spec, RecordingTables(runtime, cutoff=cutoff)).toPandas()
            found = differing_rows(
                spec.keys, spec.time_column, full, recent, lambda day, since=since: day >= since
            )
            assert not found, (
                f"{spec.name}: from {since} on, a base reading Gold from {cutoff} ({spec.lookback_days} "
                f"days before) gives other keys, differing per column: {found}"
            )

    def test_fixed_time_does_not_move(self, trained_home, spec):
        """A model that declares ``fixed_time`` gives each key the same ``time_column`` whether its
        base reads Gold as it stood at a cutoff or all of it: the daily run keeps earlier days'
        predictions by that time, so a key whose time moved would be stored twice."""
        from health_monitor.pipelines.train import model_base
        from health_monitor.testing.pointintime import GoldAsOf, naive_utc

        if not spec.fixed_time:
            pytest.skip(f"{spec.name} does not declare fixed_time")
        runtime, _, _ = trained_home
        full = naive_utc(model_base(runtime, spec).toPandas())
        days = sorted(pd.to_datetime(full[spec.time_column]).dt.date.unique())
        cutoff = days[int(len(days) * 0.6)]
        early = naive_utc(model_base(runtime, spec, GoldAsOf(runtime.tables, cutoff)).toPandas())
        both = full.merge(early, on=list(spec.keys), suffixes=("", "_early"))
        assert len(both) > 0, f"{spec.name}: no key is known both at {cutoff} and today"
        moved = both[both[spec.time_column] != both[f"{spec.time_column}_early"]]
        assert moved.empty, (
            f"{spec.name} declares fixed_time, but {len(moved)} key(s) have another {spec.time_column} "
            f"from Gold as of {cutoff}, e.g. {moved.head(3).to_dict('records')}"
        )

    # -- agent tools -------------------------------------------------------------------------

    HOSTILE_VALUES = ("x'; DROP TABLE users; --", 10**30, ["a"], {"$gt": ""}, "../../etc/passwd", "", None)

    def _tools(self, host):
        return [o.spec for _, o in sorted(host.tools.items()) if o.plugin.name == self.plugin_name]

    @staticmethod
    def _scored(runtime, tool) -> bool:
        """Does every model the tool reads have predictions? Not one the gate held back."""
        return all(runtime.lakehouse.exists(runtime.settings.predictions(m)) for m in tool.reads)

    def _valid_args(self, context, tool) -> dict:
        if tool.entity is None:
            return {}
        values = context.distinct(tool.reads[0], tool.entity, limit=1)
        assert values, f"{tool.reads[0]} has no {tool.entity} to call {tool.name} with"
        return {tool.entity: values[0]}

    def test_ships_its_agent_tools(self, plugin_host):
        tools = self._tools(plugin_host)
        assert len(tools) >= self.min_tools, (
            f"{self.plugin_name} ships {len(tools)} tools, wants {self.min_tools}"
        )
        for tool in tools:
            assert tool.domain in (self.plugin_name, "all")
            for name in tool.reads:
                assert name in plugin_host.models, f"tool {tool.name} reads unknown model {name}"

    def test_tools_answer_on_a_simulated_account(self, trained_home):
        import json

        from health_monitor.agents import make_context, to_langchain

        runtime, host, _ = trained_home
        context = make_context(runtime=runtime, host=host)
        for spec in self._tools(host):
            tool = to_langchain(spec, context)
            if not self._scored(runtime, spec):
                # A model the champion gate held back has no predictions: the tool says so.
                for value in ("1", "main.default.t"):  # an id, or a three-part table name
                    out = tool.invoke({spec.entity: value} if spec.entity else {})
                    if not out.startswith("invalid arguments"):
                        break
                assert "no predictions of" in out, f"tool {spec.name} over a model with no champion: {out}"
                continue
            out = tool.invoke(self._valid_args(context, spec))
            try:
                answer = json.loads(out)
            except json.JSONDecodeError:
                raise AssertionError(f"tool {spec.name} answered with an error: {out}") from None
            found = answer.get("rows", answer.get("values"))
            assert found, f"tool {spec.name} found nothing on the simulated account: {answer}"

    def test_explain_tool_explains_the_model(self, trained_home, spec):
        import json

        from health_monitor.agents import CORE_TOOLS, make_context, to_langchain

        runtime, host, _ = trained_home
        self._require_champion(runtime, spec)
        context = make_context(runtime=runtime, host=host)
        explain = to_langchain(next(t for t in CORE_TOOLS if t.name == "explain_prediction"), context)
        row = context.query(spec.name, limit=1)[0]
        keys = {k: str(row[k]) for k in spec.keys}
        out = explain.invoke({"model": spec.name, "keys": keys, "top_k": 3})
        answer = json.loads(out) if out.startswith("{") else out
        assert isinstance(answer, dict), f"explaining {spec.name} {keys} failed: {answer}"
        assert 1 <= len(answer["contributions"]) <= 3
        assert {c["feature"] for c in answer["contributions"]} <= set(spec.input_names)

    def test_tools_refuse_hostile_arguments_and_change_nothing(self, trained_home):
        from health_monitor.agents import make_context, to_langchain

        runtime, host, _ = trained_home
        context = make_context(runtime=runtime, host=host)
        before = {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()}
        for spec in self._tools(host):
            if not self._scored(runtime, spec):
                continue  # no predictions to build valid arguments from (see above)
            tool = to_langchain(spec, context)
            valid = self._valid_args(context, spec)
            fields = list(spec.args.model_fields)
            for field in fields:
                for hostile in self.HOSTILE_VALUES:
                    if hostile is None and field not in valid:
                        continue  # None is the default of an optional field
                    out = tool.invoke({**valid, field: hostile})
                    assert isinstance(out, str) and not out.startswith("{"), (
                        f"{spec.name} accepted {field}={hostile!r}: {out[:200]}"
                    )
            out = tool.invoke({**valid, "sql": "SELECT 1"})
            assert "sql" in out and not out.startswith("{"), f"{spec.name} accepted an unknown argument"
        assert {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()} == before

    # -- real-time endpoints -----------------------------------------------------------------

    def test_served_scores_are_the_batch_scores(self, trained_home, spec):
        """An endpoint answers what ``infer`` wrote: its latest answer is the stored row, and
        scoring a stored row's keys live (an ``as_of`` request or a miss) gives the same outputs.
        ``enrich`` and the estimator must be row for row, not depend on the batch they are in."""
        import math

        from health_monitor.serving.app import BOOKKEEPING, ScoringService
        from health_monitor.serving.scoring import Champions, plain

        runtime, host, _ = trained_home
        self._require_champion(runtime, spec)
        service = ScoringService(Champions(runtime, host))
        champion = service.champions.get(spec.name)
        table = service.champions.store.table(runtime.settings.predictions(spec.name))
        outputs = [c for c in table.frame.columns if c not in {*spec.base_columns, *BOOKKEEPING}]
        for _, row in table.frame.iloc[:: max(1, len(table.frame) // 20)].iterrows():
            batch = {c: plain(row[c]) for c in outputs}
            live = service.champions.score(spec.name, {c: row[c] for c in spec.base_columns})
            for name, value in live.items():
                other = batch[name]
                assert value == other or (
                    isinstance(value, float)
                    and isinstance(other, float)
                    and math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12)
                ), f"{spec.name} {dict(row)}: {name} batch {other!r}, live {value!r}"
        latest = table.frame.sort_values(spec.time_column).iloc[-1]
        served = service.predict(champion, body_for(service.fields[spec.name], latest), None)
        assert served == {c: plain(latest[c]) for c in outputs}

    def test_endpoints_score_and_refuse_hostile_requests(self, trained_home, spec):
        import json

        from health_monitor.serving.app import RequestError, ScoringService
        from health_monitor.serving.scoring import Champions

        runtime, host, _ = trained_home
        self._require_champion(runtime, spec)
        service = ScoringService(Champions(runtime, host))
        before = {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()}
        paths = [f"/models/{spec.name}"] + ([spec.endpoint] if spec.endpoint else [])
        fields = service.fields[spec.name]
        table = service.champions.store.table(runtime.settings.predictions(spec.name))
        row = table.frame.iloc[len(table.frame) // 2]
        valid = body_for(fields, row)
        for path in paths:
            out = service.score(path, json.dumps(valid).encode())
            assert out["model"] == spec.name and "prediction" in out, out
        for field in [*fields, "as_of"]:
            for hostile in self.HOSTILE_VALUES:
                body = {**valid, field: hostile}
                try:
                    service.score(paths[0], json.dumps(body).encode())
                except RequestError as exc:
                    assert 400 <= exc.status < 500, exc.message
                else:
                    raise AssertionError(f"{paths[0]} accepted {field}={hostile!r}")
        assert {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()} == before
