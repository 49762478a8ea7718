//! [`ClusterBus`]: the local bus plus Redis pub/sub between nodes, with the
//! same faces ([`ClientBus`], [`ServerBus`], [`Recovery`]).
//!
//! It composes its [`LocalBus`] through that bus's own faces and one seam,
//! [`LocalBus::deliver`], which takes what other nodes (or Redis) send.
//! Everything a client or the API does is applied to the local bus first,
//! synchronously, exactly as on a single node, but for emits to rooms that
//! keep a history: Redis numbers those, and every node (this one too)
//! delivers them when Redis publishes them back. What other nodes need is
//! queued for a sender task (never awaited on the delivery path).
//! Emits to rooms travel on each room's channel, to which a node is
//! subscribed exactly while it has local members in the room (a reconciler
//! task compares the two); what concerns one user travels on the channel
//! of its room `user:<id>`, what concerns one connection of another node
//! on that node's own channel (when the directory has said which node it
//! is), and only what concerns every node (emits to everyone) on the one
//! broadcast channel. A join resolves its [`Heard`] once the room's
//! subscription is confirmed. On a Redis Cluster the channels are sharded
//! (see `pubsub`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use fred::clients::SubscriberClient;
use fred::prelude::*;
use sockgate_bus::{Delivery, LocalBus, Numbering};
use sockgate_core::{
    user_room, Added, Args, BusError, ClientBus, ConnMeta, ConnSnapshot, Heard, Joined, Position, Recipient,
    Recovery, Result, RoomName, ServerBus, Sid, Target, Who,
};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, warn};

use crate::directory;
use crate::keys::{Channel, ChannelKind, Keys};
use crate::located::Located;
use crate::message::{ClusterMessage, Op};
use crate::metrics::ClusterMetrics;
use crate::sender::{Outgoing, SenderTask};

mod catch_up;
mod failover;
pub(crate) mod gaps;
mod shutdown;
mod slots;
mod subscriptions;
use crate::{emitter, ClusterConfig};
use subscriptions::NodeChannels;

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The Redis URL is not valid.
    #[error("cluster.redis_url: {0}")]
    Url(String),
    /// The prefix has braces, which on a Redis Cluster would decide the
    /// hash slots of every key.
    #[error("cluster.prefix {0:?}: braces are not allowed with a Redis Cluster (they would choose the keys' hash slots)")]
    Prefix(String),
    /// Redis did not answer in time at start and `cluster.required` is on.
    #[error("cannot reach Redis at {url} within {timeout:?} (set cluster.required = false to start local-only): {reason}")]
    Unreachable {
        /// The configured URL.
        url: String,
        /// `cluster.timeout`.
        timeout: std::time::Duration,
        /// What failed.
        reason: String,
    },
    /// Redis answered, but refused or dropped the node's subscriptions to
    /// the broadcast channel (and the emitter patterns), and
    /// `cluster.required` is on.
    #[error("cannot subscribe to the cluster's channels on Redis at {url} (set cluster.required = false to start anyway): {reason}")]
    Subscribe {
        /// The configured URL.
        url: String,
        /// What failed.
        reason: String,
    },
}

/// The cluster bus of one node.
pub struct ClusterBus {
    /// This very bus, for the futures that outlive a call ([`Heard`]).
    me: std::sync::Weak<ClusterBus>,
    pub(crate) local: Arc<LocalBus>,
    pub(crate) keys: Keys,
    outgoing: mpsc::Sender<Outgoing>,
    /// The task that sends `outgoing`'s items; taken when the node leaves.
    sender: Mutex<Option<SenderTask>>,
    dirty_rooms: Mutex<HashSet<RoomName>>,
    rooms_changed: Notify,
    pub(crate) metrics: Arc<ClusterMetrics>,
    pub(crate) client: Client,
    /// The subscribing client (its connections count in the shards' status).
    pub(crate) subscriber: SubscriberClient,
    /// Rooms whose channel subscription Redis has confirmed.
    subscribed: Mutex<HashSet<RoomName>>,
    /// Counts the reconciler's batches, to wake joins waiting for theirs.
    subscriptions_confirmed: watch::Sender<u64>,
    /// `cluster.timeout`: the longest a join waits for its subscription.
    timeout: std::time::Duration,
    /// The nodes of other nodes' connections the API looked up.
    located: Located,
    /// Numbers this node's messages per room channel.
    pub(crate) outbound: gaps::Outbound,
    /// Checks other nodes' numbers, to count what never arrived.
    inbound: gaps::Inbound,
    /// On a Redis Cluster, what the failover watch last learned.
    pub(crate) masters: failover::Masters,
}

impl ClusterBus {
    /// Connects to Redis and starts the node's background tasks.
    pub async fn start(local: Arc<LocalBus>, mut config: ClusterConfig) -> Result<Arc<Self>, ClusterError> {
        if config.node_id.is_empty() {
            config.node_id = Sid::random().to_string();
        }
        let mut redis = Config::from_url(&config.redis_url).map_err(|e| ClusterError::Url(e.to_string()))?;
        // A Redis Cluster: sharded channels, and room keys in one slot each.
        let sharded = redis.server.is_clustered();
        if sharded && config.prefix.contains(['{', '}']) {
            return Err(ClusterError::Prefix(config.prefix));
        }
        // A first connection that fails is retried like a lost one, so a
        // node started local-only (`cluster.required = false`) joins once
        // Redis answers; fred gives up on it by default.
        redis.fail_fast = false;
        let mut builder = Builder::from_config(redis);
        builder
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .with_performance_config(|perf| {
                perf.default_command_timeout = config.timeout;
                perf.broadcast_channel_capacity = 8_192;
            })
            .with_connection_config(|conn| {
                conn.connection_timeout = config.timeout;
                // `ASK` redirections (a slot being migrated) take an attempt
                // each, and when they run out fred drops every connection
                // and stalls: so several. A command resent after a
                // connection loss is taken once: receivers drop a plain
                // message heard twice (`gaps`), and Redis numbers an event
                // once (its numbering script remembers each node's last).
                conn.max_command_attempts = 5;
            });
        let client = builder.build().map_err(|e| ClusterError::Url(e.to_string()))?;
        let subscriber = builder
            .build_subscriber_client()
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        supervise(client.clone(), "commands");
        supervise(subscriber.clone(), "subscriptions");
        // Polled rather than awaited: fred's wait_for_connect misses a
        // connection that completes between its state check and its
        // subscription, which made starts time out at random.
        let reached = tokio::time::timeout(config.timeout, async {
            while !(client.is_connected() && subscriber.is_connected()) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .is_ok();
        let metrics = Arc::new(ClusterMetrics::default());
        if reached {
            metrics.set_connected(true);
        } else if config.required {
            let _ = client.quit().await;
            let _ = subscriber.quit().await;
            return Err(ClusterError::Unreachable {
                url: config.redis_url.clone(),
                timeout: config.timeout,
                reason: "no connection".into(),
            });
        } else {
            warn!(url = %config.redis_url, "Redis is unreachable: serving local-only until it is back");
        }

        let keys = Keys::new(&config.prefix, &config.node_id, sharded);
        let (outgoing, queue) = mpsc::channel(config.outgoing_queue.max(1));
        let bus = Arc::new_cyclic(|me| ClusterBus {
            me: me.clone(),
            local,
            keys: keys.clone(),
            outgoing,
            sender: Mutex::new(None),
            dirty_rooms: Mutex::new(HashSet::new()),
            rooms_changed: Notify::new(),
            metrics: metrics.clone(),
            client: client.clone(),
            subscriber: subscriber.clone(),
            subscribed: Mutex::new(HashSet::new()),
            subscriptions_confirmed: watch::Sender::new(0),
            timeout: config.timeout,
            located: Located::default(),
            outbound: gaps::Outbound::default(),
            inbound: gaps::Inbound::default(),
            masters: failover::Masters::default(),
        });
        // The node hears broadcasts (and emitters) once it starts serving.
        // Without Redis, the reconciler subscribes when it comes.
        let channels = NodeChannels::new(&keys, &config);
        if reached {
            if let Err(error) = channels.subscribe(&subscriber).await {
                if config.required {
                    let _ = client.quit().await;
                    let _ = subscriber.quit().await;
                    return Err(ClusterError::Subscribe {
                        url: config.redis_url.clone(),
                        reason: error.to_string(),
                    });
                }
                warn!(%error, "cannot subscribe to the cluster's broadcast channel: serving, retrying after each reconnect");
            }
        }
        // Weakly, or the task would keep alive the bus that keeps its queue open.
        *bus.sender.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(SenderTask::spawn(Arc::downgrade(&bus), queue));
        tokio::spawn(receive_loop(
            Arc::downgrade(&bus),
            subscriber.clone(),
            config.clone(),
        ));
        tokio::spawn(slots::follow_slot_moves(
            Arc::downgrade(&bus),
            subscriber.clone(),
            NodeChannels::new(&keys, &config),
            config.heartbeat,
        ));
        tokio::spawn(subscriptions::reconcile_loop(
            Arc::downgrade(&bus),
            subscriber.clone(),
            channels,
        ));
        tokio::spawn(directory::heartbeat_loop(
            Arc::downgrade(&bus),
            client.clone(),
            keys,
            config.heartbeat,
            config.node_ttl,
        ));
        tokio::spawn(failover::watch_masters(
            Arc::downgrade(&bus),
            client.clone(),
            config.heartbeat.min(std::time::Duration::from_millis(250)),
        ));
        tokio::spawn(watch_connection(Arc::downgrade(&bus), client));
        info!(node = %config.node_id, "cluster member");
        Ok(bus)
    }

    /// The local bus this node delivers through.
    pub fn local(&self) -> &Arc<LocalBus> {
        &self.local
    }

    /// The cluster counters.
    pub fn metrics(&self) -> &ClusterMetrics {
        &self.metrics
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        self.keys.node()
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(crate) fn queue(&self, item: Outgoing) {
        if self.outgoing.try_send(item).is_err() {
            self.metrics.send_failed();
        }
    }

    fn send(&self, channel: Channel, message: &mut ClusterMessage) {
        if channel.kind == ChannelKind::Room {
            message.seq = Some(self.outbound.next(&channel.name));
        }
        match serde_json::to_string(message) {
            Ok(payload) => self.queue(Outgoing::Publish { channel, payload }),
            Err(_) => self.metrics.send_failed(),
        }
    }

    fn touch_rooms<'a>(&self, rooms: impl IntoIterator<Item = &'a RoomName>) {
        let mut dirty = self.dirty_rooms.lock().unwrap_or_else(|p| p.into_inner());
        let before = dirty.len();
        dirty.extend(rooms.into_iter().cloned());
        if dirty.len() != before {
            self.rooms_changed.notify_one();
        }
    }

    /// Records that a local connection changed: its rooms may need
    /// (un)subscribing and its directory record rewriting.
    fn changed(&self, sid: Sid, rooms: &[RoomName]) {
        self.touch_rooms(rooms);
        self.queue(Outgoing::Record(sid));
    }

    fn who_message(&self, op: Op, who: Who<'_>, rooms: &[String]) -> ClusterMessage {
        let mut message = ClusterMessage::new(self.keys.node(), op);
        match who {
            Who::Sid(sid) => message.sid = Some(sid.to_string()),
            Who::User(user) => message.user = Some(user.to_owned()),
        }
        message.rooms = rooms.to_vec();
        message
    }

    /// Applies a message from another node to the local bus.
    pub(crate) fn apply(&self, mut message: ClusterMessage) {
        self.metrics.received();
        let except: Vec<Sid> = message.except.iter().filter_map(|s| s.parse().ok()).collect();
        let sid = message.sid.as_deref().and_then(|s| s.parse::<Sid>().ok());
        let who = match (&sid, &message.user) {
            (Some(sid), _) => Some(Who::Sid(*sid)),
            (None, Some(user)) => Some(Who::User(user)),
            _ => None,
        };
        let outcome = match message.op {
            Op::Emit => {
                let args = message.take_args();
                let Some(event) = message.event.as_deref() else {
                    return;
                };
                let target = match (&sid, &message.user, message.all) {
                    (Some(sid), _, _) => Target::Sid(*sid),
                    (None, Some(user), _) => Target::User(user),
                    (None, None, true) => Target::All,
                    (None, None, false) => Target::Rooms(&message.rooms),
                };
                // Numbered by Redis; or the plain copy of an emit whose
                // numbered copies travel apart; or as a local emit.
                let numbering = match (message.position, message.besides.is_empty()) {
                    (Some(position), _) => Numbering::At(Position {
                        epoch: position.epoch.into(),
                        offset: position.offset,
                    }),
                    (None, false) => Numbering::Never,
                    (None, true) => Numbering::Here,
                };
                self.local.deliver(Delivery {
                    target,
                    except: &except,
                    besides: &message.besides,
                    event,
                    args,
                    numbering,
                })
            }
            Op::Join | Op::Leave => {
                let Some(who) = who else { return };
                let result = match message.op {
                    Op::Join => ServerBus::add_rooms(self.local.as_ref(), who, &message.rooms)
                        .map(|added| added.connections),
                    _ => self.local.remove_rooms(who, &message.rooms),
                };
                self.after_membership(who);
                result.map(drop)
            }
            Op::Kick => {
                if let Some(who) = who {
                    self.local.kick(who);
                }
                Ok(())
            }
        };
        match outcome {
            // The target is on another node: not for us.
            Ok(()) | Err(BusError::UnknownConnection) => {}
            Err(error) => debug!(%error, "cluster message refused"),
        }
    }

    /// Checks a plain room message's number against the last one heard
    /// from its sender there, counting a hole as lost; answers whether to
    /// apply it (not when it is one heard before). A node's own messages are not heard back (applied
    /// when sent); numbered ones are checked by their offsets instead
    /// (`catch_up`), which also fills their holes.
    fn counted(&self, channel: &str, message: &ClusterMessage) -> bool {
        let Some(seq) = message.seq else { return true };
        if message.node == self.keys.node() {
            return true;
        }
        let lost = match self.inbound.heard(channel, &message.node, seq) {
            gaps::Heard::New { lost } => lost,
            gaps::Heard::Again => {
                debug!(
                    channel,
                    node = message.node.as_str(),
                    "a message heard twice: dropped"
                );
                return false;
            }
        };
        if lost > 0 {
            self.metrics.lost(lost);
            warn!(
                channel,
                node = message.node.as_str(),
                lost,
                "messages to a room never reached this node (counted in sockgate_cluster_lost_total)"
            );
        }
        true
    }

    /// Forgets the numbers heard on `channels`: this node stops hearing
    /// them on purpose (no local member left).
    pub(crate) fn forget_heard<'a>(&self, channels: impl IntoIterator<Item = &'a str>) {
        self.inbound.forget(channels);
    }

    /// After a server-side join or leave: refresh what changed locally.
    pub(crate) fn after_membership(&self, who: Who<'_>) {
        let sids = match who {
            Who::Sid(sid) => vec![sid],
            Who::User(user) => self.local.members(&user_room(user)),
        };
        for sid in sids {
            if let Some(snapshot) = self.local.connection(sid) {
                self.changed(sid, &snapshot.rooms);
            }
        }
    }

    /// Applies an `@socket.io/redis-emitter` operation to this node's
    /// connections (every node gets every emitter message).
    fn apply_emitter(&self, command: emitter::EmitterCommand) {
        use emitter::EmitterCommand;
        match command {
            EmitterCommand::Emit { to, event, args } => {
                let except = self.local_members(&to.except);
                let Ok(args) = Args::from_values(&args) else {
                    return;
                };
                let target = match to.rooms.is_empty() {
                    true => Target::All,
                    false => Target::Rooms(&to.rooms),
                };
                // Every node gets it: numbered by none.
                let outcome = self.local.deliver(Delivery {
                    target,
                    except: &except,
                    besides: &[],
                    event: &event,
                    args,
                    numbering: Numbering::Never,
                });
                if let Err(error) = outcome {
                    debug!(%error, "emitter event refused");
                }
            }
            EmitterCommand::Join { who, rooms } => {
                for sid in self.selected(&who) {
                    let _ = ServerBus::add_rooms(self.local.as_ref(), Who::Sid(sid), &rooms);
                    self.after_membership(Who::Sid(sid));
                }
            }
            EmitterCommand::Leave { who, rooms } => {
                for sid in self.selected(&who) {
                    let _ = self.local.remove_rooms(Who::Sid(sid), &rooms);
                    self.after_membership(Who::Sid(sid));
                }
            }
            EmitterCommand::Disconnect { who } => {
                for sid in self.selected(&who) {
                    self.local.kick(Who::Sid(sid));
                }
            }
        }
    }

    /// Local members of any of `rooms`.
    fn local_members(&self, rooms: &[String]) -> Vec<Sid> {
        let mut sids: Vec<Sid> = rooms.iter().flat_map(|room| self.local.members(room)).collect();
        sids.sort();
        sids.dedup();
        sids
    }

    /// The local connections a socket.io selector names.
    fn selected(&self, who: &emitter::Selector) -> Vec<Sid> {
        let candidates = match who.rooms.is_empty() {
            true => self.local.connections().into_iter().map(|c| c.sid).collect(),
            false => self.local_members(&who.rooms),
        };
        let except = self.local_members(&who.except);
        candidates
            .into_iter()
            .filter(|sid| !except.contains(sid))
            .collect()
    }

    /// The channel of one room.
    fn room_channel(&self, room: &str) -> Channel {
        self.keys.room_channel(room)
    }

    /// The channel that reaches `who` on other nodes: its user's room, or
    /// its node's own channel when the directory said which node that is
    /// (else the broadcast channel).
    fn channel_of(&self, who: Who<'_>) -> Channel {
        match who {
            Who::User(user) => self.room_channel(&user_room(user)),
            Who::Sid(sid) => match self.located.node_of(sid) {
                Some(node) => self.keys.node_channel(&node),
                None => self.keys.broadcast_channel(),
            },
        }
    }

    /// Remembers where the directory found `sid`.
    pub(crate) fn locate(&self, sid: Sid, node: &str) {
        if node != self.keys.node() {
            self.located.remember(sid, node);
        }
    }

    /// Sends the plain copy of an emit to `rooms` on other nodes: one
    /// message per room, on the room's channel, so each goes only to nodes
    /// with members there. Each copy names the rooms whose copies come
    /// before it (and `besides`, which numbered copies reach), and whoever
    /// delivers it leaves their members out: a member of several rooms
    /// gets the emit once, from the copy of the first of them it is in.
    fn send_to_rooms(&self, mut message: ClusterMessage, rooms: &[String], besides: &[String]) {
        let mut before = besides.to_vec();
        for room in rooms {
            message.rooms = vec![room.clone()];
            message.besides.clone_from(&before);
            self.send(self.room_channel(room), &mut message);
            before.push(room.clone());
        }
    }
}

impl ClientBus for ClusterBus {
    fn connect(&self, sid: Sid, recipient: Arc<dyn Recipient>, meta: ConnMeta, rooms: &[String]) -> Heard {
        // A local bus hears every room at once: nothing to wait for there.
        drop(self.local.connect(sid, recipient, meta, rooms));
        let rooms = self.local.connection(sid).map(|c| c.rooms).unwrap_or_default();
        self.changed(sid, &rooms);
        self.heard(rooms)
    }

    fn disconnect(&self, sid: Sid) {
        let snapshot = self.local.connection(sid);
        self.local.disconnect(sid);
        let Some(snapshot) = snapshot else { return };
        self.changed(sid, &snapshot.rooms);
        // Kept locally by the bus (unless it was kicked): Redis too, so
        // that the token works on any node.
        if let Some(token) = snapshot.meta.resume_token {
            if self.local.departed_session(&token).is_some() {
                self.queue(Outgoing::KeepDeparted(token));
            }
        }
    }

    fn join(&self, sid: Sid, room: &str) -> Result<Joined> {
        let room = self.local.join(sid, room)?.room;
        self.changed(sid, std::slice::from_ref(&room));
        let heard = self.heard(vec![room.clone()]);
        Ok(Joined { room, heard })
    }

    fn leave(&self, sid: Sid, room: &str) -> Result<RoomName> {
        let room = self.local.leave(sid, room)?;
        self.changed(sid, std::slice::from_ref(&room));
        Ok(room)
    }

    fn publish(&self, sender: Option<Sid>, room: &str, event: &str, args: Args) -> Result<()> {
        if self.sequences(room) {
            self.local.check_publish(room, event, &args)?;
            let except: Vec<Sid> = sender.into_iter().collect();
            self.sequence(room, &except, &[], event, &args);
            return Ok(());
        }
        let mut message = ClusterMessage::new(self.keys.node(), Op::Emit);
        message.set_args(&args);
        self.local.publish(sender, room, event, args)?;
        message.rooms = vec![room.to_owned()];
        message.except = sender.iter().map(ToString::to_string).collect();
        message.event = Some(event.to_owned());
        self.send(self.room_channel(room), &mut message);
        Ok(())
    }

    fn connection(&self, sid: Sid) -> Option<ConnSnapshot> {
        self.local.connection(sid)
    }

    fn recovery(&self) -> Option<&dyn Recovery> {
        self.local.recovery().map(|_| self as &dyn Recovery)
    }
}

impl ServerBus for ClusterBus {
    fn emit(&self, target: Target<'_>, except: &[Sid], event: &str, args: Args) -> Result<()> {
        let mut message = ClusterMessage::new(self.keys.node(), Op::Emit);
        message.except = except.iter().map(ToString::to_string).collect();
        message.event = Some(event.to_owned());
        message.set_args(&args);
        let channel = match target {
            Target::Sid(sid) => {
                match ServerBus::emit(self.local.as_ref(), target, except, event, args) {
                    // Not here: the node that has it will deliver.
                    Err(BusError::UnknownConnection) => {}
                    Ok(()) => return Ok(()),
                    Err(error) => return Err(error),
                }
                message.sid = Some(sid.to_string());
                self.channel_of(Who::Sid(sid))
            }
            Target::Rooms(rooms) if rooms.iter().any(|room| self.sequences(room)) => {
                // Recoverable rooms are numbered in Redis one by one; the
                // others go as one plain copy. A member gets the copy of the
                // first numbered room it is in, else the plain one: each
                // copy names the rooms whose copies come before it.
                // Numbered copies go to Redis before any local delivery checks them.
                self.local.check_event(event, &args)?;
                let (numbered, plain): (Vec<String>, Vec<String>) =
                    rooms.iter().cloned().partition(|room| self.sequences(room));
                for room in rooms {
                    self.local.policy().name(room)?;
                }
                for (index, room) in numbered.iter().enumerate() {
                    self.sequence(room, except, &numbered[..index], event, &args);
                }
                if plain.is_empty() {
                    return Ok(());
                }
                self.local.deliver(Delivery {
                    target: Target::Rooms(&plain),
                    except,
                    besides: &numbered,
                    event,
                    args,
                    numbering: Numbering::Never,
                })?;
                self.send_to_rooms(message, &plain, &numbered);
                return Ok(());
            }
            Target::User(user) if self.sequences(&user_room(user)) => {
                self.local.check_event(event, &args)?;
                self.sequence(&user_room(user), except, &[], event, &args);
                return Ok(());
            }
            Target::Rooms(rooms) => {
                ServerBus::emit(self.local.as_ref(), target, except, event, args)?;
                self.send_to_rooms(message, rooms, &[]);
                return Ok(());
            }
            Target::User(user) => {
                ServerBus::emit(self.local.as_ref(), target, except, event, args)?;
                message.rooms = vec![user_room(user)];
                self.room_channel(&user_room(user))
            }
            Target::All => {
                ServerBus::emit(self.local.as_ref(), target, except, event, args)?;
                message.all = true;
                self.keys.broadcast_channel()
            }
        };
        self.send(channel, &mut message);
        Ok(())
    }

    fn add_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<Added> {
        let local = ServerBus::add_rooms(self.local.as_ref(), who, rooms).map(|added| added.connections);
        self.after_membership(who);
        let connections = self.forward_unless_local(Op::Join, who, rooms, local)?;
        // Waited for only where this node has members (see hear_rooms).
        let rooms = rooms
            .iter()
            .filter_map(|room| self.local.policy().name(room).ok())
            .collect();
        Ok(Added {
            connections,
            heard: self.heard(rooms),
        })
    }

    fn remove_rooms(&self, who: Who<'_>, rooms: &[String]) -> Result<usize> {
        let local = ServerBus::remove_rooms(self.local.as_ref(), who, rooms);
        self.after_membership(who);
        self.forward_unless_local(Op::Leave, who, rooms, local)
    }

    fn kick(&self, who: Who<'_>) -> usize {
        let kicked = ServerBus::kick(self.local.as_ref(), who);
        if matches!(who, Who::User(_)) || kicked == 0 {
            let mut message = self.who_message(Op::Kick, who, &[]);
            self.send(self.channel_of(who), &mut message);
        }
        kicked.max(usize::from(matches!(who, Who::Sid(_))))
    }

    fn members(&self, room: &str) -> Vec<Sid> {
        self.local.members(room)
    }

    fn connection(&self, sid: Sid) -> Option<ConnSnapshot> {
        self.local.connection(sid)
    }
}

impl ClusterBus {
    /// Sends a join/leave to the other nodes when it may concern
    /// connections there: always for users, for a sid only when it is not here.
    fn forward_unless_local(
        &self,
        op: Op,
        who: Who<'_>,
        rooms: &[String],
        local: Result<usize>,
    ) -> Result<usize> {
        let forward = matches!(
            (&who, &local),
            (Who::User(_), Ok(_)) | (Who::Sid(_), Err(BusError::UnknownConnection))
        );
        if forward {
            let mut message = self.who_message(op, who, rooms);
            self.send(self.channel_of(who), &mut message);
        }
        match (who, local) {
            (Who::Sid(_), Err(BusError::UnknownConnection)) => Ok(1),
            (_, local) => local,
        }
    }
}

/// Runs `client`'s connection task, and runs it again whenever it ends
/// with an error. fred ends the task, and leaves the client looking
/// connected with nobody serving its commands, when redirections run out
/// (`ASK` after `ASK` while a slot is migrating); its reconnect policy
/// does not cover that. The task ends without an error only when the
/// client quits (shutdown).
fn supervise<C: ClientLike + Send + 'static>(client: C, role: &'static str) {
    tokio::spawn(async move {
        loop {
            match client.connect().await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => {
                    warn!(%error, role, "the Redis client's connection task ended: starting it again");
                }
                Err(panicked) => {
                    warn!(error = %panicked, role, "the Redis client's connection task failed: starting it again");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}

/// Applies messages from other nodes and from emitters.
async fn receive_loop(bus: std::sync::Weak<ClusterBus>, subscriber: SubscriberClient, config: ClusterConfig) {
    let mut messages = subscriber.message_rx();
    loop {
        let message = match messages.recv().await {
            Ok(message) => message,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                warn!(
                    missed,
                    "cluster messages were dropped: this node could not keep up"
                );
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(bus) = bus.upgrade() else { return };
        let channel = message.channel.to_string();
        if channel.starts_with(&format!("{}#", bus.keys.prefix())) {
            let Some(text) = message.value.as_bytes() else {
                continue;
            };
            match serde_json::from_slice::<ClusterMessage>(text) {
                // Numbered by Redis: every node applies them when Redis
                // sends them back, this one too, after any it missed.
                Ok(cluster) if cluster.position.is_some() => bus.apply_numbered(cluster).await,
                Ok(cluster) if !bus.counted(&channel, &cluster) => {}
                // A node's own messages were applied when sent.
                Ok(cluster) if cluster.node == bus.keys.node() => {}
                Ok(cluster) => bus.apply(cluster),
                Err(error) => warn!(%channel, %error, "undecodable cluster message"),
            }
        } else if config.emitter {
            let Some(bytes) = message.value.as_bytes() else {
                continue;
            };
            match emitter::decode(&config.emitter_prefix, &channel, bytes) {
                Ok(Some(command)) => {
                    bus.metrics.received();
                    bus.apply_emitter(command);
                }
                Ok(None) => {}
                Err(error) => warn!(%channel, %error, "undecodable socket.io emitter message"),
            }
        }
    }
}

/// Tracks the Redis connection: state, counters, and a full directory
/// rewrite after every reconnect (the node's keys may have expired).
async fn watch_connection(bus: std::sync::Weak<ClusterBus>, client: Client) {
    let mut reconnects = client.reconnect_rx();
    let mut errors = client.error_rx();
    loop {
        tokio::select! {
            reconnect = reconnects.recv() => {
                if reconnect.is_err() { return; }
                let Some(bus) = bus.upgrade() else { return };
                bus.metrics.set_connected(true);
                bus.metrics.reconnected();
                info!("reconnected to Redis: resynchronising this node's directory");
                for snapshot in bus.local.connections() {
                    bus.queue(Outgoing::Record(snapshot.sid));
                }
            }
            error = errors.recv() => {
                if error.is_err() { return; }
                let Some(bus) = bus.upgrade() else { return };
                if !client.is_connected() {
                    if bus.metrics.snapshot().connected {
                        warn!("lost Redis: local delivery goes on, reconnecting");
                        // On a cluster, most likely one shard failing over:
                        // so taken until the probe says otherwise
                        // (`failover`), lest recoverable rooms be numbered
                        // here in the meantime.
                        bus.metrics.set_failing_over(bus.keys.sharded());
                    }
                    bus.metrics.set_connected(false);
                }
            }
        }
    }
}
