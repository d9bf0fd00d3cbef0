"""`crossalert registry …`: migrate the registry's database and load seed files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.common.database import create_engine, session_factory
from services.registry.database import migrate
from services.registry.seed import DEFAULT_SEED, SeedError, load_seed, read_seed
from services.registry.settings import RegistrySettings

registry_app = typer.Typer(
    help="The registry's database: migrations and seed data (CROSSALERT_REGISTRY_DATABASE_URL).",
    no_args_is_help=True,
)


async def seed_database(database_url: str, path: Path) -> dict[str, int]:
    """Migrate the database at `database_url` and load the seed file; count the outcomes."""
    document = read_seed(path)
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        return dict(await load_seed(session_factory(engine), document))
    finally:
        await engine.dispose()


@registry_app.command("seed")
def seed(
    file: Annotated[Path, typer.Argument(help="A seed file (YAML).")] = DEFAULT_SEED,
) -> None:
    """Load a seed file idempotently: records are created or updated, never duplicated."""
    settings = RegistrySettings()
    try:
        outcome = asyncio.run(seed_database(settings.database_url, file))
    except (SeedError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    counts = ", ".join(f"{n} {what}" for what, n in sorted(outcome.items())) or "nothing"
    typer.echo(f"Seeded {settings.database_url} from {file}: {counts}.")


@registry_app.command("migrate")
def migrate_command() -> None:
    """Bring the registry's database to the newest schema."""
    settings = RegistrySettings()

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo(f"{settings.database_url} is at the newest schema.")
