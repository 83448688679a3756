"""Everything a route or socket handler needs, built once per server and passed in."""

from __future__ import annotations

from dataclasses import dataclass

import socketio

from peerwave_tui.devserver.auth import Authenticator
from peerwave_tui.devserver.config import DevServerConfig
from peerwave_tui.devserver.db import Database
from peerwave_tui.devserver.ephemeral import CookieSessions, MagicKeys, OtpStore
from peerwave_tui.devserver.hub import SocketHub
from peerwave_tui.devserver.mail import OtpDelivery
from peerwave_tui.devserver.store_accounts import Accounts
from peerwave_tui.devserver.store_channels import Channels
from peerwave_tui.devserver.store_keys import Keys
from peerwave_tui.devserver.store_messages import Messages


@dataclass
class ServerContext:
    config: DevServerConfig
    db: Database
    accounts: Accounts
    keys: Keys
    channels: Channels
    messages: Messages
    auth: Authenticator
    sio: socketio.AsyncServer
    hub: SocketHub
    otp_delivery: OtpDelivery
    otps: OtpStore
    cookies: CookieSessions
    magic_keys: MagicKeys

    def now_ms(self) -> int:
        return self.config.now_ms()

    @classmethod
    def build(
        cls, config: DevServerConfig, db: Database, sio: socketio.AsyncServer
    ) -> ServerContext:
        now_ms = config.now_ms
        accounts = Accounts(db, now_ms)
        return cls(
            config=config,
            db=db,
            accounts=accounts,
            keys=Keys(db, now_ms, prekey_random=config.quirk_prekey_random),
            channels=Channels(db, now_ms),
            messages=Messages(db, now_ms),
            auth=Authenticator(accounts, now_ms),
            sio=sio,
            hub=SocketHub(sio, now_ms),
            otp_delivery=OtpDelivery(config.otp_file, config.smtp),
            otps=OtpStore(now_ms),
            cookies=CookieSessions(),
            magic_keys=MagicKeys(now_ms),
        )
