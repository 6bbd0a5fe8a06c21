"""`tinypdm monitor --baud`: the line speed reaches the ports the gateway opens."""

from __future__ import annotations

from vibration.app.cli import main
from vibration.telemetry.gateway import Gateway, GatewayConfig


def test_monitor_baud_reaches_the_opened_port(tmp_path):
    config = GatewayConfig(
        ports=("loop://",), store_url=f"sqlite:///{tmp_path}/s.db", baudrate=115200
    )
    port = Gateway(config).open_port("loop://")
    try:
        assert port.baudrate == 115200
    finally:
        port.close()


def test_monitor_rejects_an_impossible_baud(tmp_path, capsys):
    code = main(["monitor", "--port", "loop://", "--baud", "12", "--seconds", "1",
                 "--store", f"sqlite:///{tmp_path}/s.db"])  # fmt: skip
    assert code == 2
    assert "--baud" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()
