"""The held-out text ``deepfort quantize`` measures perplexity on when no ``--eval-text`` is given:
original prose written for deepfort (no copyrighted source), four short English essays (1,069 words)
followed by three Chinese ones (1,076 characters); 8,961 bytes of UTF-8, 3,131 tokens for the embedded
SmolLM2-135M (1,295 English, 1,835 Chinese: its tokenizer was trained on English). Kept in a module
rather than a data file so that it ships in every install.
"""

from __future__ import annotations

__all__ = ["HELDOUT_TEXT"]

_ENGLISH = """\
The Lighthouse Keeper's Ledger

On the northern headland there stood a lighthouse that had been kept by the same family for three
generations. The last keeper, a quiet woman named Ellen, wrote everything down. She recorded the hour the
lamp was lit and the hour it was put out, the direction of the wind, the height of the swell, the ships
that passed and the birds that struck the glass on foggy nights. Her ledgers filled a shelf in the small
room beneath the lantern, and when the light was finally automated, the engineers who came to install the
new equipment spent an afternoon reading them instead of working.

What struck them was not any single entry but the patience of the whole. Ellen never skipped a day. When
she was ill, the handwriting grew shaky, but the columns were still filled. When a storm broke two panes
of the lantern, she noted the damage, the repair and the cost of the putty in the same steady hand she
used for the weather. The engineers had come to replace a person with a machine, and they found that the
person had already been working like a very careful machine for forty years, with the one difference that
she also wrote, now and then, a sentence about the colour of the sea.

The new lamp turned itself on at dusk and off at dawn. It reported its own faults to an office in the
city, two hundred kilometres away. Nobody wrote down the wind any more, because a sensor on the roof
measured it every second and sent the numbers to a server that kept them for a year and then deleted
them. The ledgers, which had no such rule, were given to the county museum, where they sit in a glass
case beside a brass telescope and a photograph of Ellen standing at the door, squinting into the sun.

Bread in a Cold Kitchen

Anyone who has baked bread in winter knows that the recipe is only half of the instructions. The other
half is the temperature of the room, and no recipe can tell you that. Dough that doubles in an hour in
July may take three hours in January, and a baker who follows the clock instead of the dough will pull a
dense, sour loaf from the oven and wonder what went wrong.

The old solution was to find the warm places in a house. People set their bowls near the stove, on top
of the refrigerator, inside an oven with only the light switched on, or wrapped in a wool blanket on a
chair by the radiator. Each household had its own spot, discovered by trial and error and passed on by
example rather than by writing. A grandmother would simply say, put it over there, and point.

There is a lesson in this for anyone who writes instructions of any kind. A procedure that works in one
place may fail in another for reasons that the author never thought to mention, because in the author's
own kitchen those reasons never changed. The best instructions therefore describe what to look for, not
only what to do: the dough is ready when it has risen by half and springs back slowly when pressed with a
floured finger. That sentence will still be true in a cold kitchen, long after the number of minutes has
become wrong.

The River That Moved

Maps give rivers a fixed line, but a river on a wide plain is never still. It cuts into the outside of
each bend, where the water runs fastest, and drops sand on the inside, where it slows. Year by year the
bends grow rounder and drift down the valley, until one spring flood finds a shorter path across the
narrow neck of land between two loops and abandons the old channel altogether. The loop that is left
behind becomes a quiet crescent lake, and in a few decades it fills with reeds and then with soil.

Towns that were built on the bank of such a river have sometimes woken to find themselves a kilometre
from the water. Their docks stand over meadows; their bridges cross nothing. Lawyers have argued for years
about where a border runs when it was defined as the middle of a river that has since gone somewhere
else. The usual answer is that a slow change moves the border with the river, while a sudden jump leaves
the border where it was, so that a piece of one country may end up on the far side of the water,
reachable only by crossing its neighbour.

Engineers spent much of the last century trying to hold rivers in place with stone walls and concrete
channels. It worked, in the sense that the rivers stopped moving, but the wetlands along them dried out,
the fish lost their spawning grounds and the floods, with nowhere to spread, rose higher downstream. In
many places the walls are now being taken down again, and the rivers are being given back some room to
wander, which is cheaper than fighting them and, in the long run, safer for the towns as well.

On Counting Slowly

A small child learning to count will often skip a number or say one twice, and an adult listening will
correct the mistake at once. Yet counting correctly is a stranger skill than it looks. To count a pile
of stones you must touch each one exactly once, keep track of which ones you have touched, and say the
next word of a sequence that you learned by heart before you knew what it meant. The last word you say is
then, somehow, the answer to the question of how many stones there are. Each of these steps has to be
learned, and children learn them at different times and in different orders.

Adults make counting errors too, especially when the objects move or the count is long. Shepherds solved
this problem long ago by counting in groups: a pebble for every ten sheep, a notch for every ten pebbles.
Banks still count money twice, by two different people, and a mismatch means both must start again.
Computers count perfectly, but only what they are told to count, and much of the work of building reliable
software consists of making sure that the thing being counted is the thing that matters.

"""

_CHINESE = """\
山中的小站

在一条很少有人经过的铁路上，有一个小站，只有一间红砖房子、一盏信号灯和一位站长。每天只有两趟列车在这里停靠，一趟早上七点，一趟傍晚六点。其余的时间，站长扫扫站台，给窗台上的花浇水，把来往列车的时间一笔一笔记在本子上。

附近村子里的孩子们喜欢在放学以后跑到站台上玩。他们趴在铁轨旁边，把耳朵贴在钢轨上，听远处有没有火车开过来。站长总是把他们赶开，可是第二天他们又会来。后来站长想了一个办法：他在站台的另一头画了一条白线，告诉孩子们，只要站在白线后面，就可以看火车进站。孩子们很守规矩，再也没有人趴在铁轨上了。

多年以后，这条线路修了新的快速铁路，小站不再有列车停靠。红砖房子被改成了一个小小的展览室，墙上挂着当年的时刻表和站长的照片。那条白线还在，只是颜色淡了许多。偶尔有人从城里开车来看，站在白线后面，望着空空的铁轨，好像还在等一趟不会再来的火车。

修表的人

老街的拐角有一家修表铺，铺子很小，只放得下一张工作台和两把椅子。修表的师傅戴着一只放大镜，用镊子把比米粒还小的齿轮一个一个取下来，放进一只白瓷盘里，按照顺序排好。他说，拆的时候记住顺序，装的时候就不会出错；要是顺序乱了，再好的手艺也没有用。

来修表的人越来越少了。年轻人看时间用手机，手机的时间由网络校准，从来不会走慢。可是师傅并不着急。他说，总有人舍不得父亲留下来的那块旧表，总有人想听一听机械表走动时那种细细的声音。这样的人不多，但是一直都有。

有一次，一个学生拿来一块停了很多年的怀表，问还能不能修好。师傅打开表壳，看了很久，说发条断了，齿轮也生了锈，要修的话得花一个多月。学生说没关系，她可以等。一个多月以后，怀表又走起来了。学生把表贴在耳边听了一会儿，笑着说，这就是她小时候在爷爷口袋里听到的声音。

写给将来的信

有一所学校，每年毕业的时候都会让学生给十年以后的自己写一封信。信封好以后放进一只铁箱子，锁在图书馆的地下室里。十年以后，学校会按照信封上的地址把信寄出去。

很多人收到信的时候已经忘了自己写过什么。有人在信里写下了想去的城市、想做的工作，十年以后读起来，发现自己去了完全不同的地方，做着当年想不到的事情。也有人在信里写得很简单，只有一句话：希望你还记得今天的天气很好。

负责保管这些信的老师说，她最喜欢的不是那些远大的计划，而是这种小小的句子。计划常常会变，可是一个晴朗的下午，一群年轻人坐在教室里认真地给自己写信，这件事情本身是不会变的。十年以后，收到信的人也许会想起窗外的阳光，想起同桌的名字，想起那时候对将来既害怕又期待的心情。
"""

HELDOUT_TEXT = _ENGLISH + _CHINESE
