"""The message history of one conversation: paged and drawn line by line.

It holds only the pages it was given (the newest first, older ones as the user scrolls to
the top), so a conversation with 100,000 messages opens as fast as one with ten. It draws
with the Line API: only the visible lines are rendered, and each message's lines are cached
per width and status. It never fetches anything: it posts ``OlderRequested`` and
``RetryRequested`` and its screen calls the manager.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style

from peerwave_tui.models import ChatMessage, Direction, MessageKind, MessageStatus
from peerwave_tui.ui.format import (
    STATUS_MARKS,
    body_text,
    clock,
    day_label,
    local_time,
    one_line,
)

TIME_GUTTER = 9  # "  12:34  "
STATUS_GUTTER = 9  # " ! retry "
SENDER_GAP = timedelta(minutes=15)  # a new sender line after a pause this long
OLDER_THRESHOLD = 3  # lines from the top at which the next older page is asked for


@dataclass(frozen=True)
class _Block:
    """One drawn item: a top marker, a day separator, a sender line, or a message."""

    kind: str  # "top" | "day" | "sender" | "message" | "notice"
    strips: tuple[Strip, ...]
    message_index: int | None = None


class MessageView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    MessageView {
        height: 1fr;
        overflow-x: hidden;
    }
    """

    COMPONENT_CLASSES = {
        "message-view--top",
        "message-view--day",
        "message-view--sender",
        "message-view--self",
        "message-view--time",
        "message-view--text",
        "message-view--notice",
        "message-view--undecryptable",
        "message-view--unsupported",
        "message-view--pending",
        "message-view--stored",
        "message-view--read",
        "message-view--failed",
    }

    BINDINGS = [
        Binding("r", "retry", "Retry failed", show=False),
    ]

    class OlderRequested(Message):
        """The user reached the top: load messages older than local id ``before``."""

        def __init__(self, before: int) -> None:
            self.before = before
            super().__init__()

    class RetryRequested(Message):
        def __init__(self, item_id: str) -> None:
            self.item_id = item_id
            super().__init__()

    def __init__(
        self,
        *,
        today: Callable[[], date] = date.today,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._today = today
        self._messages: list[ChatMessage] = []
        self._positions: dict[str, int] = {}  # item_id -> index in _messages
        self._has_older = False
        self._loading_older = False
        self._placeholder = ""
        self._loaded = False  # a conversation's messages are shown (maybe none)
        self._blocks: list[_Block] = []
        self._starts: list[int] = []  # first line of each block
        self._cache: dict[tuple[object, ...], tuple[Strip, ...]] = {}
        self._layout_width = 0
        self._layout_pending = False
        self._follow = False  # scroll to the end after the pending layout

    # --- what the screen calls --------------------------------------------------------

    @property
    def messages(self) -> list[ChatMessage]:
        return list(self._messages)

    @property
    def has_older(self) -> bool:
        return self._has_older

    @property
    def loading_older(self) -> bool:
        return self._loading_older

    def clear_view(self, placeholder: str = "") -> None:
        """Show nothing but ``placeholder`` (no conversation, or one being opened)."""
        self._messages = []
        self._positions = {}
        self._has_older = False
        self._loading_older = False
        self._placeholder = placeholder
        self._loaded = False
        self._cache.clear()
        self._relayout()
        self.scroll_to(y=0, animate=False, immediate=True, force=True)

    def set_messages(self, messages: Iterable[ChatMessage], *, has_older: bool) -> None:
        """Show the newest page (ascending order) and scroll to the end."""
        self._messages = list(messages)
        self._reindex()
        self._has_older = has_older
        self._loading_older = False
        self._placeholder = ""
        self._loaded = True
        self._relayout()
        self.scroll_end(animate=False, immediate=True, force=True)
        self.call_after_refresh(self._maybe_request_older)

    def prepend(self, messages: Iterable[ChatMessage], *, has_older: bool) -> None:
        """Add an older page above, keeping the lines the user looks at in place."""
        page = [msg for msg in messages if msg.item_id not in self._positions]
        self._has_older = has_older
        self._loading_older = False
        before = self.virtual_size.height
        self._messages = page + self._messages
        self._reindex()
        self._relayout()
        added = self.virtual_size.height - before
        self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True, force=True)
        self.call_after_refresh(self._maybe_request_older)

    def older_failed(self) -> None:
        """Loading an older page failed: allow asking again."""
        self._loading_older = False
        self._relayout()

    def add(self, message: ChatMessage) -> None:
        """A new message at the end, or a newer copy of one already shown."""
        position = self._positions.get(message.item_id)
        if position is not None:
            self._messages[position] = message
            self._relayout_soon()
            return
        follow = self.scroll_y >= self.max_scroll_y - 1
        self._messages.append(message)
        self._positions[message.item_id] = len(self._messages) - 1
        self._placeholder = ""
        self._relayout_soon(follow=follow)

    def set_status(self, item_id: str, status: MessageStatus, detail: str | None = None) -> bool:
        position = self._positions.get(item_id)
        if position is None:
            return False
        message = self._messages[position]
        if message.status is status and message.detail == detail:
            return True
        message.status = status
        message.detail = detail
        self._relayout_soon()
        return True

    def failed_item_ids(self) -> list[str]:
        return [
            msg.item_id
            for msg in self._messages
            if msg.direction is Direction.OUT and msg.status is MessageStatus.FAILED
        ]

    # --- layout -------------------------------------------------------------------------

    def _relayout_soon(self, *, follow: bool = False) -> None:
        """Lay out once for a burst of changes (a backlog arriving, receipts)."""
        self._follow = self._follow or follow
        if not self._layout_pending:
            self._layout_pending = True
            self.call_next(self._apply_pending_layout)

    def _apply_pending_layout(self) -> None:
        self._layout_pending = False
        self._relayout()
        if self._follow:
            self.scroll_end(animate=False, immediate=True, force=True)
        self._follow = False

    def _reindex(self) -> None:
        self._positions = {msg.item_id: index for index, msg in enumerate(self._messages)}

    def _content_width(self) -> int:
        return max(self.scrollable_content_region.width, 0)

    def _relayout(self) -> None:
        width = self._content_width()
        if width != self._layout_width:
            self._cache.clear()  # every cached message was drawn for the old width
        self._layout_width = width
        if width <= 0:
            self._blocks, self._starts = [], []
            self.virtual_size = Size(0, 0)
            return
        blocks = list(self._build_blocks(width))
        starts: list[int] = []
        total = 0
        for block in blocks:
            starts.append(total)
            total += len(block.strips)
        self._blocks, self._starts = blocks, starts
        self.virtual_size = Size(width, total)
        self.refresh()

    def _build_blocks(self, width: int) -> Iterable[_Block]:
        top = self._top_text()
        if top:
            yield _Block("top", self._centred(top, width, "message-view--top"))
        today = self._today()
        previous: ChatMessage | None = None
        for index, message in enumerate(self._messages):
            day = local_time(message.timestamp).date()
            new_day = previous is None or local_time(previous.timestamp).date() != day
            if new_day:
                yield _Block("day", self._day_separator(day_label(day, today), width))
            if message.kind is MessageKind.NOTICE:
                yield _Block(
                    "notice",
                    self._cached(message, width, self._notice_strips),
                    index,
                )
                previous = message
                continue
            if new_day or self._sender_changed(previous, message):
                yield _Block("sender", self._sender_line(message, width), index)
            yield _Block("message", self._cached(message, width, self._message_strips), index)
            previous = message

    def _top_text(self) -> str:
        if self._placeholder:
            return self._placeholder
        if not self._messages:
            return "No messages yet: write the first one below." if self._loaded else ""
        if self._loading_older:
            return "Loading older messages…"
        if self._has_older:
            return "↑ Older messages"
        return "Start of the conversation"

    @staticmethod
    def _sender_changed(previous: ChatMessage | None, message: ChatMessage) -> bool:
        if previous is None or previous.kind is MessageKind.NOTICE:
            return True
        if (previous.direction, previous.sender_id) != (message.direction, message.sender_id):
            return True
        return message.timestamp - previous.timestamp > SENDER_GAP

    def _cached(
        self,
        message: ChatMessage,
        width: int,
        render: Callable[[ChatMessage, int], tuple[Strip, ...]],
    ) -> tuple[Strip, ...]:
        key = (message.local_id, message.item_id, message.status, message.detail, width)
        strips = self._cache.get(key)
        if strips is None:
            strips = render(message, width)
            self._cache[key] = strips
        return strips

    # --- drawing ------------------------------------------------------------------------

    def _style(self, component: str) -> Style:
        return self.get_visual_style(component)

    def _line(self, content: Content, width: int) -> Strip:
        base = self.visual_style
        strip = Strip(content.render_segments(base), content.cell_length)
        return strip.extend_cell_length(width, base.rich_style).crop(0, width)

    def _centred(self, text: str, width: int, component: str) -> tuple[Strip, ...]:
        content = Content.styled(text, self._style(component))
        lines = content.wrap(max(width - 4, 1))
        return tuple(self._line(line.center(width), width) for line in lines)

    def _day_separator(self, label: str, width: int) -> tuple[Strip, ...]:
        text = f" {label} "
        side = max((width - len(text)) // 2, 2)
        rule = "─" * side
        content = Content.styled(f"{rule}{text}{rule}", self._style("message-view--day"))
        return (self._line(content, width),)

    def _sender_line(self, message: ChatMessage, width: int) -> tuple[Strip, ...]:
        own = message.direction is Direction.OUT
        name = "You" if own else (message.sender_name or "Unknown sender")
        component = "message-view--self" if own else "message-view--sender"
        content = Content.assemble(" ", (one_line(name, 60), self._style(component)))
        return (self._line(content, width),)

    def _notice_strips(self, message: ChatMessage, width: int) -> tuple[Strip, ...]:
        return self._centred(f"— {body_text(message)} —", width, "message-view--notice")

    def _message_strips(self, message: ChatMessage, width: int) -> tuple[Strip, ...]:
        body_width = max(width - TIME_GUTTER - STATUS_GUTTER, 8)
        if message.kind is MessageKind.UNDECRYPTABLE:
            body_style = self._style("message-view--undecryptable")
        elif message.kind is MessageKind.UNSUPPORTED:
            body_style = self._style("message-view--unsupported")
        else:
            body_style = self._style("message-view--text")
        body_lines = Content.styled(body_text(message), body_style).wrap(body_width)
        if not body_lines:
            body_lines = [Content("")]
        time_content = Content.styled(
            f"  {clock(message.timestamp)}  ".ljust(TIME_GUTTER), self._style("message-view--time")
        )
        status = self._status_content(message)
        strips: list[Strip] = []
        for number, line in enumerate(body_lines):
            gutter = time_content if number == 0 else Content(" " * TIME_GUTTER)
            tail = status if number == len(body_lines) - 1 else Content("")
            padded = line.pad_right(max(body_width - line.cell_length, 0))
            row = Content.assemble(gutter, padded, tail.right(STATUS_GUTTER))
            strips.append(self._line(row, width))
        return tuple(strips)

    def _status_content(self, message: ChatMessage) -> Content:
        if message.direction is not Direction.OUT or message.kind is not MessageKind.TEXT:
            return Content("")
        mark = STATUS_MARKS.get(message.status, "")
        if not mark:
            return Content("")
        return Content.styled(f"{mark} ", self._style(f"message-view--{message.status.value}"))

    # --- Line API -------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self._content_width()
        if width != self._layout_width:
            self._relayout()
        line = self.scroll_offset.y + y
        block_index = bisect_right(self._starts, line) - 1
        if block_index < 0 or block_index >= len(self._blocks):
            return Strip.blank(width, self.visual_style.rich_style)
        block = self._blocks[block_index]
        offset = line - self._starts[block_index]
        if offset >= len(block.strips):
            return Strip.blank(width, self.visual_style.rich_style)
        strip = block.strips[offset]
        scroll_x = self.scroll_offset.x
        return strip.crop(scroll_x, scroll_x + width) if scroll_x else strip

    def message_at_line(self, line: int) -> ChatMessage | None:
        block_index = bisect_right(self._starts, line) - 1
        if 0 <= block_index < len(self._blocks):
            index = self._blocks[block_index].message_index
            if index is not None and self._blocks[block_index].kind == "message":
                return self._messages[index]
        return None

    # --- styles -------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Published after the new theme's styles are applied (component styles included).
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self.notify_style_update()
        self._relayout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()  # cached lines carry the old colours

    # --- events -------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        at_end = self.scroll_y >= self.max_scroll_y - 1
        self._relayout()
        if at_end:
            self.scroll_end(animate=False, immediate=True, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= OLDER_THRESHOLD:
            self._maybe_request_older()

    def _maybe_request_older(self) -> None:
        if not self._has_older or self._loading_older or not self._messages:
            return
        if self.scroll_y > OLDER_THRESHOLD:
            return
        self._loading_older = True
        self._relayout()
        self.post_message(self.OlderRequested(before=self._messages[0].local_id))

    def on_click(self, event: events.Click) -> None:
        message = self.message_at_line(self.scroll_offset.y + event.y)
        if message is not None and message.status is MessageStatus.FAILED:
            event.stop()
            self.post_message(self.RetryRequested(message.item_id))

    def action_retry(self) -> None:
        for item_id in self.failed_item_ids():
            self.post_message(self.RetryRequested(item_id))
