# %% [markdown]
# # Exploring the raw table
#
# A first look at the raw table of the active data config (`data.raw_path`: the bundled
# penguins, see `docs/dataset_card.md`, until you choose your own), *before* and after
# cleaning. Every step calls the project's own functions (`prepare.load_raw`,
# `prepare.clean`, `prepare.split`, the plots of `eda`), so what you see is what `dvc repro`
# does; nothing here is a copy of pipeline code. Found something worth changing? Change
# `conf/` or `src/`, not this notebook, and note the finding in `docs/`.
#
# This notebook is paired with `eda.py` (jupytext): edit either, review the `.py` in diffs.
# Outputs are stripped when you commit. It reads the committed `params.yaml`; after editing
# `conf/`, run `make params` first.

# %%
import json
import os
from pathlib import Path

from IPython.display import Image, Markdown, display

from {{ cookiecutter.package_name }} import eda
from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.prepare import (
    clean,
    load_raw,
    split,
)

# Work from the project root (where params.yaml is), wherever Jupyter was started.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "params.yaml").exists())
os.chdir(ROOT)
cfg = load_params()
data_cfg = cfg["data"]
target = data_cfg["target"]

# %% [markdown]
# ## The raw table, as the pipeline reads it
#
# Columns are renamed (`data.rename`) and the tokens in `data.missing_values` become missing;
# nothing else has changed yet.

# %%
raw = load_raw(Path(data_cfg["raw_path"]), data_cfg)
print(f"{len(raw)} rows, {raw.shape[1]} columns")
raw.head()

# %% [markdown]
# Missing values per column. In the penguin table the measurements are missing for two birds;
# sex and the blood isotopes (delta 15N, delta 13C) for more; `comments` is mostly empty.

# %%
raw.isna().sum().loc[lambda counts: counts > 0].sort_values(ascending=False)

# %% [markdown]
# The target's values as typed. In the penguin table the same species is spelled with
# different capitals ("Adelie Penguin", "Gentoo penguin"): `data.synonyms` maps each spelling
# to one label, and matching ignores case and extra spaces.

# %%
raw[target].value_counts()

# %% [markdown]
# Row order can leak labels: in a file sorted by class, row numbers and identifiers predict
# it (the penguin file is sorted by species, and `sample_number` restarts at 1 within each).
# That is why identifiers are in `data.drop`, and why the split is shuffled. The rows each
# target value spans:

# %%
rows = raw.assign(row=range(len(raw)))
rows.groupby(target, sort=False)["row"].agg(["min", "max", "count"]).head(20)

# %% [markdown]
# ## Cleaning
#
# `prepare.clean` validates the columns against the data config, parses numbers, normalises
# categories, drops rows without a label and duplicates, and counts everything it did.

# %%
df, summary = clean(raw, data_cfg)
print(json.dumps(summary, indent=2))

# %% [markdown]
# ## The training split
#
# Explore the training split only: looking at validation or test rows while choosing
# features or models leaks them into your decisions.

# %%
splits = split(df, data_cfg, cfg["seed"])
train = splits["train"]
print({name: len(part) for name, part in splits.items()})

# %% [markdown]
# The `eda` stage itself, run on this split (into `.scratch/`, which git ignores; the
# pipeline writes its own copies to `reports/eda/`): its plots and summary.

# %%
out = ROOT / ".scratch" / "notebook_eda"
out.mkdir(parents=True, exist_ok=True)
train.to_parquet(out / "train.parquet")
for path in eda.eda(data_cfg, out / "train.parquet", out, seed=cfg["seed"]):
    display(Image(filename=str(path)) if path.suffix == ".png" else Markdown(path.read_text()))

# %% [markdown]
# ## What next
#
# - Write down what you found (and what you decided because of it) in `docs/`.
# - Try a model: `dvc exp run -S model=svm`, then `dvc exp show` or `make compare`.
