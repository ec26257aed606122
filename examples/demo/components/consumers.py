"""A chat room over WebSockets: the Django Channels tutorial's consumer.

Served by ``manage.py serve --asgi`` (demo.asgi routes ``/ws/chat/ROOM/``
here). Every message a client sends goes to the room's group on the channel
layer (settings.CHANNEL_LAYERS: in memory, or Redis to span workers and
pods) and from there to every client in the room.
"""

import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room_name"]
        self.group = f"chat_{self.room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)["message"]
        event = {"type": "chat.message", "message": message}
        await self.channel_layer.group_send(self.group, event)

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))
